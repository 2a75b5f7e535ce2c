using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Coherent.Invalidation;

/// <summary>
/// Local tag versions and the global clear version. An entry snapshots them when stored; a bump makes every entry with an
/// older snapshot invalid at once, without scanning L1.
/// </summary>
/// <remarks>
/// The table holds each tag's <see cref="TagState"/> weakly; entries and running flights hold it strongly. A tag no live
/// entry or flight carries has nothing left to invalidate, so its record may go: the next use starts a fresh one, and
/// every entry stamped from then on compares against that. Without this every distinct tag ever used stayed for good (figure: docs/benchmarks.md, "Design measurements").
/// Records are swept when the table has doubled and after every full (gen 2) collection, which is when records of
/// long-lived entries die.
/// </remarks>
internal sealed class TagTable
{
    private const int MinSweepAt = 1024;

    private readonly ConcurrentDictionary<string, WeakReference<TagState>> _tags = new(StringComparer.Ordinal);
    private long _clearVersion;
    private long _bumps;
    private int _sweepAt = MinSweepAt;
    private int _sweeping;

    public TagTable() => _ = new SweepAfterFullCollections(this);

    public long ClearVersion => Volatile.Read(ref _clearVersion);

    /// <summary>Tag records in the table, including ones whose tag is no longer carried and not yet swept.</summary>
    public int Count => _tags.Count;

    public TagState Get(string tag)
    {
        while (true)
        {
            if (_tags.TryGetValue(tag, out var weak))
            {
                if (weak.TryGetTarget(out var state))
                {
                    return state;
                }

                var fresh = new TagState(tag);
                if (_tags.TryUpdate(tag, new WeakReference<TagState>(fresh), weak))
                {
                    return fresh;
                }

                continue; // another thread replaced it: use theirs
            }

            var created = new TagState(tag);
            if (_tags.TryAdd(tag, new WeakReference<TagState>(created)))
            {
                if (_tags.Count >= Volatile.Read(ref _sweepAt))
                {
                    Sweep();
                }

                return created;
            }
        }
    }

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

    /// <summary>
    /// Drops the records of tags nothing carries any more. Runs when the table has doubled since the last sweep, so its cost
    /// is amortized over the insertions; the next sweep waits until the table doubles again from what is left.
    /// </summary>
    internal int Sweep()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return 0;
        }

        try
        {
            var removed = 0;
            foreach (var pair in _tags)
            {
                // Removes only this exact record: one replaced meanwhile by a fresh state stays.
                if (!pair.Value.TryGetTarget(out _) && _tags.TryRemove(pair))
                {
                    removed++;
                }
            }

            Volatile.Write(ref _sweepAt, Math.Max(MinSweepAt, _tags.Count * 2));
            return removed;
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    /// <summary>
    /// An object only its own finalizer keeps alive: it is finalized after each full collection, sweeps the table, and
    /// re-registers itself. It holds the table weakly, so a disposed cache's table goes, and the sweeper with it.
    /// </summary>
    /// <summary>
    /// An object only its own finalizer keeps alive: it is finalized after each collection of its generation (gen 2 once
    /// promoted), sweeps the table, and re-registers itself. It holds the table through a weak GC handle, not a
    /// <see cref="WeakReference{T}"/>: that object would be finalized in the same collection, in no set order, and lose its target.
    /// </summary>
    private sealed class SweepAfterFullCollections
    {
        private GCHandle _table;

        public SweepAfterFullCollections(TagTable table) => _table = GCHandle.Alloc(table, GCHandleType.Weak);

        ~SweepAfterFullCollections()
        {
            if (_table.Target is not TagTable table)
            {
                _table.Free(); // the cache is gone: stop
                return;
            }

            if (Environment.HasShutdownStarted)
            {
                return;
            }

            if (table.Count > 0)
            {
                table.Sweep();
            }

            GC.ReRegisterForFinalize(this);
        }
    }
}
