using System.Collections.Concurrent;
using Coherent.Memcached.Store;

namespace Coherent.Memcached;

/// <summary>
/// Without a bus, a node learns of another node's tag invalidation or clear only by reading the counters, which every read
/// does (the entry's tags and the clear, in the same round trip). Each counter seen to move past what this node knew is
/// reported to the engine as if a bus had carried it, so local copies stamped before it are voided at once — above all the
/// copies a fail-safe family would otherwise serve when its factory fails. A move this node made itself is recorded
/// without a report (the engine already applied it).
/// </summary>
internal sealed partial class MemcachedTier
{
    private const int MaxKnownTags = 10_000;

    private readonly ConcurrentDictionary<string, long> _knownTags = new(StringComparer.Ordinal);
    private long _knownClear;

    /// <summary>Learns the counters read for <paramref name="asked"/> (the clear first, then tags), reporting each that moved.</summary>
    private void Observe(IReadOnlyList<VersionKey> asked, ulong[] values)
    {
        for (var i = 0; i < asked.Count; i++)
        {
            Observe(asked[i], (long)values[i], report: true);
        }
    }

    private void Observe(VersionKey version, long value, bool report)
    {
        if (version.Kind == VersionKey.ClearKind)
        {
            long known;
            while ((known = Volatile.Read(ref _knownClear)) < value)
            {
                if (Interlocked.CompareExchange(ref _knownClear, value, known) == known)
                {
                    if (report && known != 0)
                    {
                        Host.OnRemoteCleared();
                    }

                    return;
                }
            }

            return;
        }

        if (_knownTags.Count >= MaxKnownTags)
        {
            _knownTags.Clear(); // forgetting only loses reports for copies that still expire at their max-staleness
        }

        var advanced = false;
        var first = false;
        _knownTags.AddOrUpdate(version.Name, _ => { first = true; return value; }, (_, old) =>
        {
            advanced = value > old;
            return Math.Max(old, value);
        });
        if (report && advanced && !first)
        {
            Host.OnRemoteTagInvalidated(version.Name);
        }
    }
}
