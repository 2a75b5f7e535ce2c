using Coherent.Local;
using Coherent.Policies;
using Microsoft.Extensions.Logging;

namespace Coherent.Distributed;

/// <summary>
/// The seam between the engine and a shared tier (Coherent.Redis): L2 storage, epoch fencing, fleet leases and the
/// invalidation bus. Payloads cross it already serialized; the engine owns serialization and L1.
/// </summary>
internal interface IDistributedTier : IAsyncDisposable
{
    /// <summary>Starts connections, subscriptions and heartbeats. Called once, from the cache's constructor path.</summary>
    void Start(IDistributedTierOwner owner);

    /// <summary>Reads the key: the entry, or a miss carrying the key's current epoch (on Redis a hit is one round trip, a miss two).</summary>
    ValueTask<DistributedReadResult> ReadAsync(string key, FamilyState family, CancellationToken cancellationToken);

    /// <summary>
    /// Like <see cref="ReadAsync"/>, for a caller that will not store what it computes (a lookup): a miss may come back
    /// without the key's epoch (-1), which saves a round trip on Redis.
    /// </summary>
    ValueTask<DistributedReadResult> LookupAsync(string key, FamilyState family, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a computed value only if the key's epoch still equals <paramref name="expectedEpoch"/> (fencing), releases the
    /// lease if one is given, and announces the fill. Returns false when fenced out.
    /// </summary>
    ValueTask<bool> StoreIfEpochAsync(string key, DistributedEntry entry, long expectedEpoch, DistributedLease? lease, CancellationToken cancellationToken);

    /// <summary>
    /// The tag and clear versions this tier knows now, for a fill about to be computed: the fill is stamped with them, not with
    /// the versions known when it is stored (a bump learned meanwhile, e.g. from the periodic version refresh before its bus
    /// message, would otherwise make a value computed before the bump look current).
    /// </summary>
    ValueTask<DistributedVersions> CaptureVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken);

    /// <summary>Write-through: stores the value, bumps the epoch and publishes, in one step. Returns the new epoch.</summary>
    ValueTask<long> SetAsync(string key, DistributedEntry entry, CancellationToken cancellationToken);

    /// <summary>Deletes the entry, bumps the epoch (voiding leases) and publishes, in one step.</summary>
    ValueTask InvalidateAsync(string key, CancellationToken cancellationToken);

    /// <summary>Bumps the tag's version and publishes.</summary>
    ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken);

    /// <summary>Bumps the global version and publishes.</summary>
    ValueTask ClearAsync(CancellationToken cancellationToken);

    /// <summary>Tries to take the fleet-wide right to compute the key; null when another node holds it.</summary>
    ValueTask<DistributedLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken);

    /// <summary>Releases a lease without storing (the factory failed).</summary>
    ValueTask ReleaseLeaseAsync(DistributedLease lease, CancellationToken cancellationToken);

    /// <summary>Waits for the "filled" notification of the key, up to <paramref name="timeout"/>. True when notified.</summary>
    ValueTask<bool> WaitForFillAsync(string key, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Health for diagnostics and the circuit breaker.</summary>
    DistributedTierHealth Health { get; }
}

/// <summary>What the engine exposes to the shared tier (bus callbacks and L1 reconciliation).</summary>
internal interface IDistributedTierOwner
{
    CacheClock Clock { get; }

    ILogger Logger { get; }

    /// <summary>Another node invalidated or overwrote the key: drop it from L1 and fence running factories.</summary>
    void OnRemoteInvalidated(string key);

    /// <summary>An invalidation of <paramref name="key"/> published <paramref name="lagMs"/> ago (sender's clock) arrived: the lag histogram.</summary>
    void RecordInvalidationLag(string key, double lagMs);

    /// <summary>Another node invalidated a tag.</summary>
    void OnRemoteTagInvalidated(string tag);

    /// <summary>Another node cleared the cache.</summary>
    void OnRemoteCleared();

    /// <summary>
    /// Every invalidation published before this instant (ms since epoch, this node's clock) has been received.
    /// L1 entries are served only while max(fetched-at, confirmed-up-to) + MaxStaleness is in the future.
    /// </summary>
    void SetConfirmedUpTo(long ms);

    /// <summary>Drops every L1 entry fetched before <paramref name="ms"/> (recovery after an outage or a message gap).</summary>
    int DropLocalEntriesFetchedBefore(long ms);
}

/// <summary>A value as stored in the shared tier.</summary>
internal sealed class DistributedEntry
{
    public required ReadOnlyMemory<byte> Payload { get; init; }
    public long CreatedAtMs { get; init; }
    public long ExpiresAtMs { get; init; }
    public double DeltaMs { get; init; }
    public long Epoch { get; init; }
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>The versions captured before the value was computed (fills); null stamps the versions known at store time (writes).</summary>
    public DistributedVersions? Versions { get; init; }
}

/// <summary>A shared tier's clear version and tag versions at one instant (opaque to the engine).</summary>
internal sealed record DistributedVersions(long ClearVersion, IReadOnlyList<(string Tag, long Version)>? Tags);

/// <summary>
/// A shared-tier read: the entry, or a miss with the key's current epoch. <paramref name="Unavailable"/> means the tier could
/// not be asked (circuit open, timeout): the engine computes locally and does not store, without logging per call (the
/// tier logs its state changes once).
/// </summary>
internal readonly record struct DistributedReadResult(DistributedEntry? Entry, long Epoch, bool Unavailable = false)
{
    public bool Found => Entry is not null;

    public static DistributedReadResult Down => new(null, -1, true);
}

/// <summary>A held lease: the key and the token that proves ownership.</summary>
internal sealed record DistributedLease(string Key, string Token, long Epoch);

internal enum DistributedTierHealth
{
    Healthy,
    Degraded,
    Unavailable,
}

/// <summary>What a tier factory gets when the cache is built.</summary>
internal sealed record DistributedTierContext(string CacheName, TimeProvider TimeProvider, ILoggerFactory LoggerFactory, long MaxPayloadBytes);
