using Coherent.Local;
using Coherent.Policies;
using Coherent.SharedTier;
using Coherent.Telemetry;

namespace Coherent.Engine;

/// <summary>
/// The engine's calls into its shared tier, each with its span and its answer to a failure: a read that cannot reach the
/// tier is <see cref="SharedTierRead.Unavailable"/> (the engine computes without it), a failed store keeps the value
/// locally, a failed lease release lets the lease expire. Decides nothing about what may be stored: that is
/// <see cref="Invalidation.InvalidationGate"/>'s.
/// </summary>
internal sealed class SharedTierClient(ISharedTier tier, CacheEvents events, CancellationTokenSource disposing)
{
    private static readonly TimeSpan MinLeaseTime = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxLeaseTime = TimeSpan.FromSeconds(30);

    public ISharedTier Tier => tier;

    /// <summary>
    /// A flight's read: a hit, a miss with the key's epoch, or Unavailable. Not an async method unless traced, so an L2 hit
    /// adds no frame of its own; the caller catches what the tier throws and answers with <see cref="ReadFailed"/>.
    /// </summary>
    public ValueTask<SharedTierRead> ReadAsync(string key, FamilyState family, bool forLease, CancellationToken token) =>
        CacheEvents.Tracing ? ReadTracedAsync(key, family, forLease, token) : Read(new SharedTierKey(key, family.Name), forLease, token);

    /// <summary><paramref name="forLease"/>: a miss goes on to the lease, whose epoch the backend may let it use instead of reading one.</summary>
    private ValueTask<SharedTierRead> Read(SharedTierKey key, bool forLease, CancellationToken token) =>
        forLease ? tier.ReadForLeaseAsync(key, token) : tier.ReadAsync(key, token);

    /// <summary>A read that threw (a tier should answer Unavailable instead): logged, and Unavailable.</summary>
    public SharedTierRead ReadFailed(string key, Exception exception)
    {
        events.SharedReadFailed(key, exception);
        return SharedTierRead.Unavailable;
    }

    private async ValueTask<SharedTierRead> ReadTracedAsync(string key, FamilyState family, bool forLease, CancellationToken token)
    {
        using var span = events.StartSpan("coherent.l2.read", key, family);
        try
        {
            var result = await Read(new SharedTierKey(key, family.Name), forLease, token).ConfigureAwait(false);
            CacheEvents.SetOutcome(span, CacheEvents.ReadOutcome(result));
            return result;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            CacheEvents.SetFailed(span, ex);
            return ReadFailed(key, ex);
        }
    }

    /// <summary>
    /// A bulk call's read of several keys, in their order. Bounded by the tier's own deadline, not a caller's token (a batch
    /// is shared by every caller that joined one of its flights). A tier that throws answers Unavailable for every key.
    /// </summary>
    public async ValueTask<IReadOnlyList<SharedTierRead>> ReadManyAsync(SharedTierKey[] keys)
    {
        using var span = CacheEvents.StartBatchSpan("coherent.l2.read_many", keys.Length);
        try
        {
            var results = await tier.ReadManyAsync(keys, CancellationToken.None).ConfigureAwait(false);
            if (results.Count != keys.Length)
            {
                throw new InvalidOperationException($"The shared tier answered {results.Count} reads for {keys.Length} keys.");
            }

            if (span is not null)
            {
                span.SetTag("coherent.hits", results.Count(r => r.Found));
                CacheEvents.SetOutcome(span, results.All(r => r.Status == SharedTierReadStatus.Unavailable) && results.Count > 0 ? "unavailable" : "read");
            }

            return results;
        }
        catch (Exception ex)
        {
            CacheEvents.SetFailed(span, ex);
            events.SharedReadFailed(keys.Length > 0 ? keys[0].Key : "", ex);
            var unavailable = new SharedTierRead[keys.Length];
            Array.Fill(unavailable, SharedTierRead.Unavailable);
            return unavailable;
        }
    }

    /// <summary>A lookup's read (TryGetAsync): the entry, or null on a miss or a failure.</summary>
    public async ValueTask<SharedTierEntry?> LookupAsync(string key, FamilyState family, CancellationToken token)
    {
        try
        {
            var result = await tier.LookupAsync(new SharedTierKey(key, family.Name), token).ConfigureAwait(false);
            return result.Entry;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            events.SharedReadFailed(key, ex);
            return null;
        }
    }

    /// <summary>The fleet's right to compute the key: null when another node holds it, or when the tier failed (then Failed).</summary>
    public async ValueTask<(SharedTierLease? Lease, bool Failed)> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken token)
    {
        try
        {
            return (await tier.TryAcquireLeaseAsync(key, leaseTime, token).ConfigureAwait(false), false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            events.SharedReadFailed(key, ex);
            return (null, true);
        }
    }

    /// <summary>
    /// The fleet's right to compute several keys of a bulk call, in their order (null: another node holds it); null for the
    /// whole batch when the tier failed (then no key holds a lease). Bounded by the tier's deadline, not a caller's token:
    /// the batch is shared by every caller that joined one of its flights.
    /// </summary>
    public async ValueTask<IReadOnlyList<SharedTierLease?>?> TryAcquireLeasesAsync(string[] keys, TimeSpan leaseTime)
    {
        try
        {
            var leases = await tier.TryAcquireLeasesAsync(keys, leaseTime, CancellationToken.None).ConfigureAwait(false);
            return leases.Count == keys.Length ? leases : throw new InvalidOperationException($"The shared tier answered {leases.Count} leases for {keys.Length} keys.");
        }
        catch (Exception ex)
        {
            events.SharedReadFailed(keys.Length > 0 ? keys[0] : "", ex);
            return null;
        }
    }

    /// <summary>Waits for the lease holder's fill notice, up to the lease time.</summary>
    public async ValueTask WaitForFillAsync(string key, FamilyState family, TimeSpan leaseTime, CancellationToken token)
    {
        using var wait = events.StartSpan("coherent.lease.wait", key, family);
        var filledInTime = await tier.WaitForFillAsync(key, leaseTime, token).ConfigureAwait(false);
        CacheEvents.SetOutcome(wait, filledInTime ? "filled" : "timeout");
    }

    /// <summary>The shared tier's versions before a factory runs; null when they cannot be read (then the fill stays local).</summary>
    public async ValueTask<SharedTierVersions?> CaptureVersionsAsync(string key, IReadOnlyList<string>? tags, CancellationToken token)
    {
        try
        {
            return await tier.CaptureVersionsAsync(tags, token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            events.SharedReadFailed(key, ex);
            return null;
        }
    }

    /// <summary>
    /// The fleet's count of tag invalidations begun (<see cref="ISharedTier.ReadTagBumpSequenceAsync"/>); null when the tier
    /// keeps none or it cannot be read (then a value whose factory adds tags is not stored in the tier).
    /// </summary>
    public async ValueTask<long?> ReadTagBumpSequenceAsync(string key, CancellationToken token)
    {
        try
        {
            return await tier.ReadTagBumpSequenceAsync(token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            events.SharedReadFailed(key, ex);
            return null;
        }
    }

    /// <summary>
    /// A computed value under the epoch read before computing. False when fenced out; true (keep it locally) when the tier
    /// failed. The cache's disposal cancels it; the token is read inside the try, where a store after disposal meets it.
    /// </summary>
    public async ValueTask<bool> StoreIfEpochAsync(CacheEntry entry, byte[] payload, CacheEntryOptions? options, long epoch, SharedTierVersions? versions, SharedTierLease? lease)
    {
        using var span = events.StartSpan("coherent.l2.write", entry.Key, entry.Family);
        try
        {
            var stored = await tier.StoreIfEpochAsync(new SharedTierKey(entry.Key, entry.Family.Name), ToShared(entry, payload, options, versions), epoch, lease, disposing.Token).ConfigureAwait(false);
            CacheEvents.SetOutcome(span, stored ? "stored" : "fenced");
            return stored;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            events.SharedStoreFailed(entry.Key, ex);
            CacheEvents.SetFailed(span, ex);
            return true; // keep it locally; the shared tier will be refilled by the next miss
        }
    }

    /// <summary>
    /// A batch of computed values, each under the epoch read before computing (<see cref="StoreIfEpochAsync"/> for each, in
    /// one call): false where fenced out; true for every value (keep it locally) when the tier failed.
    /// </summary>
    public async ValueTask<IReadOnlyList<bool>> StoreManyIfEpochAsync(IReadOnlyList<(CacheEntry Entry, byte[] Payload, CacheEntryOptions? Options, long Epoch, SharedTierVersions? Versions, SharedTierLease? Lease)> fills)
    {
        using var span = CacheEvents.StartBatchSpan("coherent.l2.write_many", fills.Count);
        var shared = new SharedTierFill[fills.Count];
        for (var i = 0; i < shared.Length; i++)
        {
            var (entry, payload, options, epoch, versions, lease) = fills[i];
            shared[i] = new SharedTierFill(new SharedTierKey(entry.Key, entry.Family.Name), ToShared(entry, payload, options, versions), epoch, lease);
        }

        try
        {
            var stored = await tier.StoreManyIfEpochAsync(shared, disposing.Token).ConfigureAwait(false);
            if (stored.Count != shared.Length)
            {
                throw new InvalidOperationException($"The shared tier answered {stored.Count} stores for {shared.Length} values.");
            }

            span?.SetTag("coherent.stored", stored.Count(s => s));
            CacheEvents.SetOutcome(span, "stored");
            return stored;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            events.SharedStoreFailed(shared.Length > 0 ? shared[0].Key.Key : "", ex);
            CacheEvents.SetFailed(span, ex);
            var kept = new bool[shared.Length];
            Array.Fill(kept, true); // keep them locally; the shared tier will be refilled by the next misses
            return kept;
        }
    }

    /// <summary>Write-through; returns the entry carrying the key's new epoch. Throws when the tier cannot be reached.</summary>
    public async ValueTask<CacheEntry> SetAsync(CacheEntry entry, byte[] payload, CacheEntryOptions? options, CancellationToken token)
    {
        long epoch;
        using (var span = events.StartSpan("coherent.l2.write", entry.Key, entry.Family))
        {
            try
            {
                epoch = await tier.SetAsync(new SharedTierKey(entry.Key, entry.Family.Name), ToShared(entry, payload, options, null), token).ConfigureAwait(false);
                CacheEvents.SetOutcome(span, "stored");
            }
            catch (Exception ex) when (span is not null)
            {
                CacheEvents.SetFailed(span, ex);
                throw;
            }
        }

        return new CacheEntry(entry.Key, entry.Value, entry.Family)
        {
            CreatedAtMs = entry.CreatedAtMs,
            FetchedAtMs = entry.FetchedAtMs,
            ExpiresAtMs = entry.ExpiresAtMs,
            RetainUntilMs = entry.RetainUntilMs,
            EarlyRefreshFromMs = entry.EarlyRefreshFromMs,
            DeltaMs = entry.DeltaMs,
            Epoch = epoch,
            ClearStamp = entry.ClearStamp,
            Tags = entry.Tags,
            TagStamps = entry.TagStamps,
        };
    }

    /// <summary>The fleet invalidation; in a span only while something listens (otherwise no extra async frame either).</summary>
    public ValueTask InvalidateAsync(string key, FamilyState family, CancellationToken token) =>
        CacheEvents.Tracing ? InvalidateTracedAsync(key, family, token) : tier.InvalidateAsync(new SharedTierKey(key, family.Name), token);

    private async ValueTask InvalidateTracedAsync(string key, FamilyState family, CancellationToken token)
    {
        using var span = events.StartSpan("coherent.invalidate", key, family);
        try
        {
            await tier.InvalidateAsync(new SharedTierKey(key, family.Name), token).ConfigureAwait(false);
            CacheEvents.SetOutcome(span, "published");
        }
        catch (Exception ex) when (span is not null)
        {
            // InvalidationFailedException: queued and retried by the tier; the span says it did not reach the fleet now.
            CacheEvents.SetFailed(span, ex);
            throw;
        }
    }

    public ValueTask InvalidateTagAsync(string tag, CancellationToken token) => tier.InvalidateTagAsync(tag, token);

    public ValueTask ClearAsync(CancellationToken token) => tier.ClearAsync(token);

    /// <summary>Voids a shared copy that may carry new versions with an old value; a failure is queued and retried by the tier.</summary>
    public async ValueTask VoidQuietlyAsync(string key, FamilyState family)
    {
        try
        {
            await tier.InvalidateAsync(new SharedTierKey(key, family.Name), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            events.SharedStoreFailed(key, ex); // InvalidationFailedException: queued and retried by the tier
        }
    }

    public async ValueTask ReleaseLeaseQuietlyAsync(SharedTierLease lease)
    {
        try
        {
            await tier.ReleaseLeaseAsync(lease, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            events.SharedStoreFailed(lease.Key, ex); // the lease expires by itself
        }
    }

    private static SharedTierEntry ToShared(CacheEntry entry, byte[] payload, CacheEntryOptions? options, SharedTierVersions? versions) => new()
    {
        Payload = payload,
        CreatedAtMs = entry.CreatedAtMs,
        ExpiresAtMs = entry.CreatedAtMs + EntryLifetime.TtlMs(entry.Family, options),
        // A fail-safe family's value stays in the tier past its expiry, for a node whose L1 never held it (SharedTierRead.Stale).
        RetainUntilMs = Math.Max(0, entry.Family.FailSafeUntilMs(entry.CreatedAtMs)),
        DeltaMs = entry.DeltaMs,
        Epoch = entry.Epoch,
        Tags = entry.Tags?.Select(t => t.Name).ToArray(),
        Versions = versions,
        Metadata = entry.Metadata,
    };

    /// <summary>About three times the usual compute time (bounded to 1–30 s), or the hard timeout when one is set.</summary>
    public static TimeSpan LeaseTimeFor(FamilyState family)
    {
        if (family.Policy.HardTimeout is { } hard)
        {
            return hard + MinLeaseTime;
        }

        var median = family.Stats.MedianFactoryCostMs() ?? 1000;
        var lease = TimeSpan.FromMilliseconds(median * 3);
        return lease < MinLeaseTime ? MinLeaseTime : lease > MaxLeaseTime ? MaxLeaseTime : lease;
    }
}
