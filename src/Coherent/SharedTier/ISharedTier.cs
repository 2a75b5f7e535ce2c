namespace Coherent.SharedTier;

/// <summary>
/// The contract between the engine and a shared tier (L2): storage with epoch fencing, fleet leases and, when the backend
/// carries one, the invalidation bus (the core's <see cref="InvalidationBus"/> over the backend's
/// <see cref="IInvalidationTransport"/>, started by the tier). Payloads cross it already serialized; the engine owns serialization, L1 and every
/// judgement of staleness. Coherent.Redis is one implementation; a backend is built for a cache by an
/// <see cref="ISharedTierFactory"/> given to <see cref="CoherentCacheBuilder.WithSharedTier"/>.
/// </summary>
/// <remarks>
/// <para>The invariant a backend must keep: <b>a value computed before an invalidation of its key never enters the tier
/// after it</b>. Every invalidation, tag bump, clear and write-through moves the key's epoch (or the tag/clear version),
/// and <see cref="StoreIfEpochAsync"/> stores only if the epoch is still the one the engine read before computing.</para>
/// <para>Reads never throw for a backend failure: they answer <see cref="SharedTierRead.Unavailable"/>, and the engine
/// computes locally without storing. Writes (set, invalidate, tag, clear) throw a <see cref="CoherentException"/> when
/// the backend cannot be reached, or queue and retry the invalidation (see <see cref="PendingInvalidations"/>).</para>
/// <para>A backend without an invalidation bus never calls the host's bus callbacks; the engine then keeps an L1 copy at
/// most the family's <c>MaxStaleness</c>, so the declared bound holds by construction.</para>
/// </remarks>
public partial interface ISharedTier : IAsyncDisposable
{
    /// <summary>
    /// Starts connections and, for a tier with a bus, its <see cref="InvalidationBus"/> (subscription and heartbeats). Called
    /// once, by the cache, before any other member.
    /// </summary>
    void Start(ISharedTierHost host);

    /// <summary>
    /// Reads the key: a hit with the entry, or a miss carrying the key's current epoch (which fences the recompute that
    /// follows), or <see cref="SharedTierRead.Unavailable"/>.
    /// </summary>
    ValueTask<SharedTierRead> ReadAsync(SharedTierKey key, CancellationToken cancellationToken);

    /// <summary>
    /// The first read of a computation that, on a miss, goes on to <see cref="TryAcquireLeaseAsync"/>. A backend whose lease
    /// reads the key's epoch (<see cref="SharedTierLease.Epoch"/>) may answer a miss without it (<see cref="SharedTierRead.HasEpoch"/>
    /// false, with the fail-safe <see cref="SharedTierRead.Stale"/> entry still attached), which saves a round trip on every
    /// miss: the engine then stores only under the lease's epoch, and keeps its value locally when no lease could be asked
    /// for. The default is <see cref="ReadAsync"/>.
    /// </summary>
    ValueTask<SharedTierRead> ReadForLeaseAsync(SharedTierKey key, CancellationToken cancellationToken) => ReadAsync(key, cancellationToken);

    /// <summary>
    /// Like <see cref="ReadAsync"/>, for a caller that will not store what it computes (a lookup): a miss may come back
    /// without the key's epoch (<see cref="SharedTierRead.HasEpoch"/> false), which can save a round trip.
    /// </summary>
    ValueTask<SharedTierRead> LookupAsync(SharedTierKey key, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a computed value only if the key's epoch still equals <paramref name="expectedEpoch"/> (fencing), releases
    /// <paramref name="lease"/> if one is given, and announces the fill to waiters. Returns false when fenced out.
    /// </summary>
    ValueTask<bool> StoreIfEpochAsync(SharedTierKey key, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease, CancellationToken cancellationToken);

    /// <summary>
    /// The tag and clear versions the tier knows now, for a fill about to be computed: the fill is stamped with them, not
    /// with the versions known when it is stored (a bump learned meanwhile would otherwise make a value computed before
    /// the bump look current).
    /// </summary>
    ValueTask<SharedTierVersions> CaptureVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken);

    /// <summary>
    /// A fleet-wide count of tag invalidations begun, or null when the backend keeps none (the default). A backend that keeps
    /// one moves it before each tag version it bumps (so a reader that sees a bumped version and then reads the count sees it
    /// moved). A value whose factory added tags, whose versions before the factory nobody knows, is stored in the tier only if
    /// the count read before the factory still holds after the added tags' versions were captured; otherwise, or with no
    /// count, it stays local.
    /// </summary>
    ValueTask<long?> ReadTagBumpSequenceAsync(CancellationToken cancellationToken) => ValueTask.FromResult<long?>(null);

    /// <summary>Write-through: stores the value and moves the key's epoch (voiding fills in flight) in one step, and announces it. Returns the new epoch.</summary>
    ValueTask<long> SetAsync(SharedTierKey key, SharedTierEntry entry, CancellationToken cancellationToken);

    /// <summary>Deletes the entry and moves the key's epoch (voiding leases and fills in flight) in one step, and announces it.</summary>
    ValueTask InvalidateAsync(SharedTierKey key, CancellationToken cancellationToken);

    /// <summary>Moves the tag's version (every entry stamped with an older one is a miss from then on) and announces it.</summary>
    ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken);

    /// <summary>Moves the clear version (every entry stamped with an older one is a miss from then on) and announces it.</summary>
    ValueTask ClearAsync(CancellationToken cancellationToken);

    /// <summary>Tries to take the fleet-wide right to compute the key; null when another node holds it.</summary>
    ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken);

    /// <summary>Releases a lease without storing (the factory failed, or its caller stopped waiting).</summary>
    ValueTask ReleaseLeaseAsync(SharedTierLease lease, CancellationToken cancellationToken);

    /// <summary>Waits until the key is filled by the lease holder, up to <paramref name="timeout"/>. True when it was.</summary>
    ValueTask<bool> WaitForFillAsync(string key, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>What this backend enforces; constant for the tier's life.</summary>
    SharedTierGuarantees Guarantees { get; }

    /// <summary>Reachability of storage and bus, for diagnostics, health checks and the engine's L1 bound (never <see cref="SharedTierState.None"/>).</summary>
    SharedTierState State { get; }

    /// <summary>Invalidations that failed to reach the backend and are queued for retry (0 for a backend that throws instead).</summary>
    long PendingInvalidations { get; }
}
