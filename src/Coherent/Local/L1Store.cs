using System.Runtime.CompilerServices;

namespace Coherent.Local;

/// <summary>
/// The bounded in-process tier, one structure: the key → entry map (whose nodes are the entries), the frequency sketch,
/// the admission doorkeeper and eviction. There is no second index: an entry's eviction state (its
/// <see cref="CacheEntry.WriteStamp"/>, <see cref="CacheEntry.WasHit"/> and its key's count in the sketch) travels with the
/// entry and the map, so a removal is one map operation and the policy can never track an entry the map does not hold, or
/// miss one it does.
/// </summary>
/// <remarks>
/// <para>
/// Policy: TinyLFU with sampled eviction. Every access the L1 records (writes, misses, hits as <see cref="RecordHit"/>
/// samples them) is counted in a <see cref="FrequencySketch"/> that halves itself every ten capacities of counts. When the
/// store is over its count or weight bound, it samples <see cref="SampleCount"/> entries from the map (a walk from a random
/// bucket) and evicts, in this order of preference: an entry outside the young window (stamped by a write or a recorded hit
/// within the last <see cref="YoungWindow"/> writes: the time a new entry gets to earn its count, as W-TinyLFU's window
/// gives it), never hit since stored (W-TinyLFU's probation segment: a hit promotes), least counted by the sketch, least
/// recently stamped. A full store caches a fill only on its key's second miss (the <see cref="Doorkeeper"/>), and only if
/// the sketch counts the key more often than the entry eviction would pick now (TinyLFU's admission; <see cref="AdmitFill"/>).
/// </para>
/// <para>
/// Concurrency: the map is lock-free for readers and striped-locked for writers; the sketch is updated by compare-and-swap;
/// eviction runs on one thread at a time (<see cref="Maintain"/>), on the writer that pushed the store over its bound.
/// </para>
/// </remarks>
internal sealed class L1Store
{
    /// <summary>Every access of an entry is recorded until it has this many recorded hits in the current epoch.</summary>
    internal const int FullyRecordedHits = 16;

    /// <summary>After that, one hit in 1,024 (by the caller's per-thread tick) is recorded, to refresh the entry's stamp.</summary>
    internal const int SampleMask = 1023;

    /// <summary>Entries compared per eviction.</summary>
    internal const int SampleCount = 32;

    /// <summary>A <see cref="CacheEntry.SampleMark"/> is the epoch times this, plus the hits recorded in that epoch.</summary>
    private const int EpochUnit = 256;

    private readonly EntryMap _map;
    private readonly FrequencySketch _sketch;
    private readonly long _maxWeight;
    private readonly Func<string, object?, long>? _weigher;
    private readonly Action<CacheEntry>? _onEvicted;
    private readonly int _writesPerEpoch;
    private readonly CacheEntry[] _sample = new CacheEntry[SampleCount];
    private long _weight;
    private long _writes;
    private long _recordedHits;
    private long _recordedMisses;

    /// <summary>The mark of an entry done with full recording in the current epoch: epoch × 256 + 16 (wraps; compared for equality).</summary>
    private int _saturatedMark = FullyRecordedHits;

    /// <summary>The eviction's random walk start (xorshift); touched only by the thread that maintains.</summary>
    private uint _random;

    /// <summary>Created on the first eviction: before the store has been full, every fill is admitted and it is never asked.</summary>
    private Doorkeeper? _doorkeeper;

    /// <summary>Set by the first eviction (the L1 has been full), cleared by <see cref="Clear"/>.</summary>
    private volatile bool _full;

    private int _maintaining;
    private int _maintenanceWanted;

    public L1Store(int maxEntries, long maxWeight, Func<string, object?, long>? weigher, Action<CacheEntry>? onEvicted)
    {
        _map = new EntryMap(Math.Min(maxEntries, 1024));
        _sketch = new FrequencySketch(maxEntries);
        _maxWeight = maxWeight;
        _weigher = weigher;
        _onEvicted = onEvicted;
        Capacity = maxEntries;
        _writesPerEpoch = Math.Max(maxEntries, 64);
        YoungWindow = Math.Max(1, maxEntries / 100);
        _random = (uint)Random.Shared.Next() | 1;
    }

    public int Capacity { get; }

    /// <summary>Writes during which a stamped entry is spared by eviction (1 % of capacity, at least 1).</summary>
    internal int YoungWindow { get; }

    /// <summary>
    /// Whether a value just fetched for a miss (computed or read from L2) should be cached. Always, until the L1 has been
    /// full; after that, a key is cached when it replaces a value the L1 holds, or on its second miss within the
    /// <see cref="Doorkeeper"/>'s memory if the sketch counts it more often than the entry it would displace. Explicit writes
    /// (SetAsync) do not ask: they are always cached.
    /// </summary>
    public bool AdmitFill(string key)
    {
        if (!_full || _map.ContainsKey(key))
        {
            return true;
        }

        // The doorkeeper first (a one-off key never reaches the sketch's comparison), then TinyLFU's admission: the newcomer
        // must be counted more often than the entry it would displace.
        if (!_doorkeeper!.SeenBefore(key))
        {
            return false;
        }

        var sample = t_sample ??= new CacheEntry[SampleCount];
        var victim = PickVictim(sample, (uint)Random.Shared.Next());
        Array.Clear(sample);
        return victim is null || _sketch.Frequency(_map.HashOf(key)) > _sketch.Frequency(victim.MapHash);
    }

    /// <summary>The sampling buffer of <see cref="AdmitFill"/>, per thread (fills run on any thread; the maintainer has its own).</summary>
    [ThreadStatic]
    private static CacheEntry[]? t_sample;

    public int Count => _map.Count;

    /// <summary>The key → entry map, for the cache's hit path (reads only; every write goes through this store).</summary>
    public EntryMap Map => _map;

    public long Weight => Interlocked.Read(ref _weight);

    /// <summary>The resident keys, weakly consistent (a snapshot of a walk that runs alongside writers).</summary>
    public IEnumerable<string> Keys => _map.Entries().Select(e => e.Key);

    /// <summary>
    /// Records a hit on <paramref name="entry"/> into the policy, or not. Every hit is recorded until the entry has
    /// <see cref="FullyRecordedHits"/> recorded hits in the current epoch, then one in 1,024 (when <paramref name="tick"/>, a
    /// per-thread counter the caller increments anyway, is a multiple of 1,024). The epoch advances every capacity's worth of
    /// writes, so a long-resident key re-earns its count against the newcomers it competes with (each write is counted in
    /// full). Once an entry is saturated, a hit costs one comparison of its mark here; the entry is written only during its
    /// 16 recorded hits per epoch and its sampled ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void RecordHit(CacheEntry entry, long tick)
    {
        if (entry.SampleMark != _saturatedMark)
        {
            RecordYoungHit(entry);
        }
        else if ((tick & SampleMask) == 0)
        {
            RecordSampledHit(entry);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordYoungHit(CacheEntry entry)
    {
        var saturated = Volatile.Read(ref _saturatedMark);
        var epochStart = unchecked(saturated - FullyRecordedHits);
        var recorded = unchecked(entry.SampleMark - epochStart);
        if (recorded < 0 || recorded > FullyRecordedHits)
        {
            recorded = 0; // first hit in this epoch (or a racing writer left a stale mark): count from zero
        }

        if (recorded < FullyRecordedHits)
        {
            entry.SampleMark = unchecked(epochStart + recorded + 1);
            RecordAccess(entry);
        }
    }

    /// <summary>Out of line: the hit path's inlined part stays one comparison.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordSampledHit(CacheEntry entry) => RecordAccess(entry);

    private void RecordAccess(CacheEntry entry)
    {
        _sketch.Increment(entry.MapHash);
        entry.WriteStamp = (int)Volatile.Read(ref _writes);
        entry.MarkHit();
        Interlocked.Increment(ref _recordedHits);
    }

    /// <summary>A read found nothing: the key's use is counted, so a key that keeps missing has its count when it is stored.</summary>
    public void RecordMiss(string key)
    {
        _sketch.Increment(_map.HashOf(key));
        Interlocked.Increment(ref _recordedMisses);
    }

    /// <summary>Looks up without recording an access (readers then call <see cref="RecordHit"/> or <see cref="RecordMiss"/>).</summary>
    public bool Peek(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out CacheEntry entry) => _map.TryGetValue(key, out entry);

    public void Set(CacheEntry entry) => Set(entry, maintain: true);

    /// <summary>Stores the entry; with <paramref name="maintain"/> false the caller runs <see cref="Maintain"/> itself (evictions then wait for it).</summary>
    public void Set(CacheEntry entry, bool maintain)
    {
        var writes = Interlocked.Increment(ref _writes);
        if (writes % _writesPerEpoch == 0)
        {
            Interlocked.Add(ref _saturatedMark, EpochUnit);
        }

        if (_weigher is not null)
        {
            entry.Weight = Math.Max(0, _weigher(entry.Key, entry.Value));
        }

        entry.WriteStamp = (int)writes;
        var previous = _map.AddOrReplace(entry);
        AdjustWeight(entry.Weight - (previous?.Weight ?? 0));
        _sketch.Increment(entry.MapHash);
        if (maintain)
        {
            Maintain();
        }
    }

    public bool Remove(string key)
    {
        if (!_map.TryRemove(key, out var removed))
        {
            return false;
        }

        AdjustWeight(-removed.Weight);
        return true;
    }

    /// <summary>Removes the key only if it still maps to <paramref name="entry"/> (a newer value stays).</summary>
    public bool Remove(CacheEntry entry)
    {
        if (!_map.TryRemove(entry))
        {
            return false;
        }

        AdjustWeight(-entry.Weight);
        return true;
    }

    public void Clear()
    {
        _full = false;
        foreach (var entry in _map.Entries())
        {
            Remove(entry.Key); // by key: whatever the key holds by now goes too
        }
    }

    /// <summary>Drops entries matching a predicate (expired past retention, fetched before an outage...). Returns how many.</summary>
    public int RemoveWhere<TState>(Func<CacheEntry, TState, bool> predicate, TState state)
    {
        var removed = 0;
        foreach (var entry in _map.Entries())
        {
            if (predicate(entry, state) && Remove(entry))
            {
                removed++;
            }
        }

        return removed;
    }

    /// <summary>Recorded hits and misses (after <see cref="RecordHit"/>'s sampling). For tests.</summary>
    internal (long Hits, long Misses) PolicyCounts() => (Interlocked.Read(ref _recordedHits), Interlocked.Read(ref _recordedMisses));

    /// <summary>Tests: whether the count and weight agree with the entries the map holds (each weighing what it weighed when stored).</summary>
    internal bool CountsMatchTheMap()
    {
        var entries = _map.Entries();
        return Count == entries.Count && Weight == entries.Sum(e => e.Weight);
    }

    /// <summary>
    /// Evicts until the store is within its bounds, on the calling thread: run by every write (after a flight's store, by the
    /// flight) and by the periodic sweep. A caller that finds another one maintaining leaves it a note, and that one runs again
    /// before it leaves (both sides fence, so a note is never missed): eviction runs on one thread at a time, and no write
    /// is left over the bound.
    /// </summary>
    public void Maintain()
    {
        Interlocked.Exchange(ref _maintenanceWanted, 1);
        while (Volatile.Read(ref _maintenanceWanted) == 1 && Interlocked.CompareExchange(ref _maintaining, 1, 0) == 0)
        {
            try
            {
                Interlocked.Exchange(ref _maintenanceWanted, 0);
                EvictToBounds();
            }
            finally
            {
                Interlocked.Exchange(ref _maintaining, 0);
            }
        }
    }

    /// <summary>Tests: runs the store's maintenance now.</summary>
    internal void DoMaintenance() => Maintain();

    private bool OverBounds() =>
        _map.Count > Capacity || (_weigher is not null && _maxWeight > 0 && Interlocked.Read(ref _weight) > _maxWeight);

    private void EvictToBounds()
    {
        // A race can make a pick stale (removed or replaced meanwhile): the guard bounds the retries, the next write resumes.
        var guard = _map.Count + SampleCount;
        while (OverBounds() && guard-- > 0)
        {
            if (PickVictim(_sample, NextRandom()) is { } victim && _map.TryRemove(victim))
            {
                AdjustWeight(-victim.Weight);
                if (!_full)
                {
                    _doorkeeper ??= new Doorkeeper(Capacity);
                    _full = true;
                }

                _onEvicted?.Invoke(victim);
            }
        }

        Array.Clear(_sample); // hold no evicted entry (and its value) alive until the next eviction
    }

    /// <summary>The sampled entry to evict: least counted, then least recently stamped; outside the young window if the sample allows.</summary>
    private CacheEntry? PickVictim(CacheEntry[] sample, uint start)
    {
        var found = _map.Sample(sample, start);
        var writes = (int)Volatile.Read(ref _writes);

        // Evicted first: outside the young window, then never hit since stored, then least counted, then oldest. The class
        // (the first two) is judged from the entry alone; the sketch is asked only about entries of the best class.
        var bestClass = int.MaxValue;
        for (var i = 0; i < found; i++)
        {
            bestClass = Math.Min(bestClass, Class(sample[i], writes));
        }

        CacheEntry? best = null;
        var bestRank = long.MaxValue;
        for (var i = 0; i < found; i++)
        {
            var e = sample[i];
            if (Class(e, writes) == bestClass)
            {
                var age = Math.Max(0, unchecked(writes - e.WriteStamp));
                var rank = ((long)_sketch.Frequency(e.MapHash) << 32) | (uint)(int.MaxValue - age);
                if (rank < bestRank)
                {
                    (best, bestRank) = (e, rank);
                }
            }
        }

        return best;
    }

    private int Class(CacheEntry entry, int writes) => (unchecked(writes - entry.WriteStamp) < YoungWindow ? 2 : 0) + (entry.WasHit ? 1 : 0);

    private uint NextRandom()
    {
        _random ^= _random << 13;
        _random ^= _random >> 17;
        _random ^= _random << 5;
        return _random;
    }

    private void AdjustWeight(long delta)
    {
        if (_weigher is not null && delta != 0)
        {
            Interlocked.Add(ref _weight, delta);
        }
    }
}
