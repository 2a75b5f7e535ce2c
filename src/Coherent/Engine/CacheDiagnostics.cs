using Coherent.Invalidation;
using Coherent.Local;
using Coherent.SharedTier;

namespace Coherent.Engine;

/// <summary>
/// The one way tests, the test harness and the benchmarks look into a cache's engine (<see cref="CoherentCache.Diagnostics"/>):
/// what L1 holds, which keys are being computed, and which shared tier the cache runs on. Each member answers one question a
/// test asks, so the engine's parts (L1 store, flight table, gate, tier) can change shape without moving every test; the
/// cache keeps those parts private, or internal only where another engine file needs them.
/// </summary>
/// <remarks>
/// A struct over the cache's parts: reaching it allocates nothing, so a benchmark may call it inside a measured loop. Not
/// for production code: nothing here is part of the cache's behaviour, and every write it offers bypasses the gate.
/// </remarks>
internal readonly struct CacheDiagnostics
{
    private readonly L1Store _l1;
    private readonly InvalidationGate _gate;

    internal CacheDiagnostics(L1Store l1, InvalidationGate gate, ISharedTier? sharedTier)
    {
        _l1 = l1;
        _gate = gate;
        SharedTier = sharedTier;
    }

    // ---- L1 ----

    /// <summary>Whether L1 holds an entry for <paramref name="key"/> (valid or not), without recording an access.</summary>
    public bool HasLocal(string key) => _l1.Peek(key, out _);

    /// <summary>The L1 entry for <paramref name="key"/>, or null; without recording an access.</summary>
    public CacheEntry? LocalEntry(string key) => _l1.Peek(key, out var entry) ? entry : null;

    /// <summary>The keys L1 holds, weakly consistent.</summary>
    public IEnumerable<string> LocalKeys => _l1.Keys;

    /// <summary>The entry bound L1 was built with.</summary>
    public int LocalCapacity => _l1.Capacity;

    /// <summary>The summed weight of L1's entries (0 without a weigher).</summary>
    public long LocalWeight => _l1.Weight;

    /// <summary>The hits and misses L1's policy recorded (after its sampling of hits).</summary>
    public (long Hits, long Misses) LocalPolicyCounts => _l1.PolicyCounts();

    /// <summary>Runs L1's maintenance (eviction to its bounds) now, on the calling thread.</summary>
    public void MaintainLocal() => _l1.DoMaintenance();

    /// <summary>Drops <paramref name="key"/> from L1 only (the shared tier keeps it): the next read goes to L2. Whether it was there.</summary>
    public bool DropLocal(string key) => _l1.Remove(key);

    /// <summary>Empties L1 only (the shared tier keeps everything): the next reads go to L2.</summary>
    public void DropAllLocal() => _l1.Clear();

    // ---- Flights ----

    /// <summary>Flights (factory runs, shared reads, refreshes) in the table now.</summary>
    public int FlightCount => _gate.Flights.Count;

    /// <summary>Whether a flight for <paramref name="key"/> is in the table (it leaves just after its callers wake).</summary>
    public bool IsComputing(string key) => _gate.Flights.TryGet(key, out _);

    // ---- The engine's parts, for their own unit tests ----

    /// <summary>The invalidation gate itself, for the gate's own tests (they drive it directly, flight by flight).</summary>
    public InvalidationGate Gate => _gate;

    /// <summary>The shared tier the cache was built with, or null; a test casts it to the backend it configured (<see cref="SharedTierAs{TTier}"/>).</summary>
    public ISharedTier? SharedTier { get; }

    /// <summary>The shared tier as the backend type a test configured; throws naming both types if it is another one (or none).</summary>
    public TTier SharedTierAs<TTier>()
        where TTier : class, ISharedTier =>
        SharedTier as TTier ?? throw new InvalidOperationException(
            $"The cache's shared tier is {SharedTier?.GetType().Name ?? "not configured"}, not {typeof(TTier).Name}.");
}
