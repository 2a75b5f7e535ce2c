using System.Collections.Concurrent;

namespace Coherent.Invalidation;

/// <summary>
/// Local tag versions and the global clear version. An entry snapshots them when stored; a bump makes every entry with an
/// older snapshot invalid at once, without scanning L1.
/// </summary>
internal sealed class TagTable
{
    private readonly ConcurrentDictionary<string, TagState> _tags = new(StringComparer.Ordinal);
    private long _clearVersion;
    private long _bumps;

    public long ClearVersion => Volatile.Read(ref _clearVersion);

    public int Count => _tags.Count;

    public TagState Get(string tag) => _tags.GetOrAdd(tag, static t => new TagState(t));

    /// <summary>Tag bumps so far (any tag). Counted before the tag's version moves, so a reader that sees a new version sees a new count.</summary>
    public long BumpCount => Volatile.Read(ref _bumps);

    public void Bump(string tag)
    {
        var state = Get(tag);
        Interlocked.Increment(ref _bumps);
        Interlocked.Increment(ref state.Version);
    }

    public void BumpClear() => Interlocked.Increment(ref _clearVersion);

    /// <summary>Resolves tags and snapshots their versions (null arrays when untagged).</summary>
    public (TagState[]? Tags, long[]? Stamps) Snapshot(IReadOnlyList<string>? tags)
    {
        if (tags is null || tags.Count == 0)
        {
            return (null, null);
        }

        var states = new TagState[tags.Count];
        var stamps = new long[tags.Count];
        for (var i = 0; i < states.Length; i++)
        {
            states[i] = Get(tags[i]);
            stamps[i] = Volatile.Read(ref states[i].Version);
        }

        return (states, stamps);
    }
}
