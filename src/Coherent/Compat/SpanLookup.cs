#if !NET9_0_OR_GREATER
using System.Diagnostics.CodeAnalysis;

namespace Coherent.Compat;

/// <summary>
/// The net8.0 stand-in for <c>Dictionary&lt;string, TValue&gt;.AlternateLookup&lt;ReadOnlySpan&lt;char&gt;&gt;</c>
/// (net9.0 and later): finds a string key from a span with ordinal comparison and no allocation, which keeps the
/// family lookup on the read path allocation-free on net8.0 too. It copies the dictionary once, so it only serves one
/// that no longer changes.
/// </summary>
internal readonly struct SpanLookup<TValue>
{
    private readonly KeyValuePair<string, TValue>[][] _buckets;

    public SpanLookup(Dictionary<string, TValue> source)
    {
        // A power of two at least twice the count keeps chains short and lets a mask pick the bucket.
        var size = 1;
        while (size < source.Count * 2)
        {
            size <<= 1;
        }

        var lists = new List<KeyValuePair<string, TValue>>[size];
        foreach (var entry in source)
        {
            (lists[Bucket(entry.Key, size)] ??= []).Add(entry);
        }

        _buckets = Array.ConvertAll(lists, l => l is null ? [] : l.ToArray());
    }

    public bool TryGetValue(ReadOnlySpan<char> key, [MaybeNullWhen(false)] out TValue value)
    {
        foreach (var entry in _buckets[Bucket(key, _buckets.Length)])
        {
            if (key.SequenceEqual(entry.Key))
            {
                value = entry.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    private static int Bucket(ReadOnlySpan<char> key, int size) => string.GetHashCode(key) & (size - 1);
}
#endif
