using System.Numerics;

namespace Coherent.Local;

/// <summary>
/// How often each key was used lately, approximately: a count-min sketch of 4-bit counters (16 to a long), four counters
/// per key, the estimate being the smallest of the four. Every <see cref="SampleSize"/> increments all counters are halved,
/// so old popularity fades (TinyLFU's aging). Keys are counted by the int hash the L1's map gives them.
/// </summary>
/// <remarks>
/// Thread-safe without a lock: each counter word is updated by compare-and-swap, so concurrent increments of one word are
/// never lost; a halving races increments word by word, which can only leave a word one count higher than an exact halving
/// would. Sized at 8 counters per entry of capacity (half a long), rounded up to a power of two.
/// </remarks>
internal sealed class FrequencySketch
{
    private const long ResetMask = 0x7777_7777_7777_7777L;
    private const int MaxCount = 15;

    private static readonly ulong[] Seeds = [0xC3A5C85C97CB3127UL, 0xB492B66FBE98F273UL, 0x9AE16A3B2F90404FUL, 0xCBF29CE484222325UL];

    private readonly long[] _table;
    private readonly int _shift;
    private int _additions;

    public FrequencySketch(int capacity)
    {
        var words = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(capacity / 2, 8, 1 << 26));
        _table = new long[words];
        _shift = 64 - BitOperations.Log2((uint)words);
        SampleSize = (int)Math.Min(int.MaxValue, Math.Max(capacity, 8) * 10L);
    }

    /// <summary>Increments between two halvings: ten per entry of capacity.</summary>
    public int SampleSize { get; }

    /// <summary>The key's estimated count, 0–15.</summary>
    public int Frequency(int hash)
    {
        var min = MaxCount;
        for (var i = 0; i < Seeds.Length; i++)
        {
            var (word, shift) = Counter(hash, i);
            min = Math.Min(min, (int)((Volatile.Read(ref _table[word]) >> shift) & 0xF));
        }

        return min;
    }

    /// <summary>Counts one use of the key (each of its counters, up to 15), and halves every counter each <see cref="SampleSize"/> increments.</summary>
    public void Increment(int hash)
    {
        var added = false;
        for (var i = 0; i < Seeds.Length; i++)
        {
            var (word, shift) = Counter(hash, i);
            added |= IncrementAt(ref _table[word], shift);
        }

        if (added && Interlocked.Increment(ref _additions) == SampleSize)
        {
            Halve();
        }
    }

    /// <summary>The word and bit offset of the key's i-th counter: the top bits of a seeded multiply pick the word, the next four the counter in it.</summary>
    private (int Word, int Shift) Counter(int hash, int i)
    {
        var h = ((ulong)(uint)hash + 1) * Seeds[i];
        h ^= h >> 29;
        h *= Seeds[(i + 1) & 3];
        return ((int)(h >> _shift), (int)((h >> 20) & 0xF) << 2);
    }

    private static bool IncrementAt(ref long word, int shift)
    {
        var current = Volatile.Read(ref word);
        while (((current >> shift) & 0xF) < MaxCount)
        {
            var seen = Interlocked.CompareExchange(ref word, current + (1L << shift), current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    private void Halve()
    {
        for (var i = 0; i < _table.Length; i++)
        {
            var current = Volatile.Read(ref _table[i]);
            while (true)
            {
                var seen = Interlocked.CompareExchange(ref _table[i], (current >> 1) & ResetMask, current);
                if (seen == current)
                {
                    break;
                }

                current = seen;
            }
        }

        // The count restarts at half the sample: the halved counters still hold about that much history.
        Interlocked.Add(ref _additions, -SampleSize / 2);
    }
}
