using Coherent.SharedTier;
using Coherent.Local;
using Coherent.Policies;
using Coherent.Serialization;
using Coherent.Stampede;
using Coherent.Telemetry;

namespace Coherent;

/// <summary>The engine's side of the shared tier: read-through, leases, fenced stores and write-through.</summary>
public sealed partial class CoherentCache
{
    private static readonly TimeSpan MinLeaseTime = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxLeaseTime = TimeSpan.FromSeconds(30);

    /// <summary>This node's tag invalidations and clears whose shared-tier call has not returned yet.</summary>
    private int _versionWritesInFlight;

    /// <summary>What the shared tier gave a flight: a value to serve, or the epoch (and maybe lease) for computing.</summary>
    private readonly record struct SharedOutcome(FlightResult? Served, long Epoch, SharedTierLease? Lease);

    /// <summary>What was known before a shared read went out: compared afterwards to decide whether its hit may fill L1.</summary>
    private readonly record struct SharedReadStart(long TagBumps, int VersionWritesInFlight, long Reconciliations, long AtMs);

    /// <summary>
    /// Times L1 was reconciled (entries fetched before an instant dropped: a bus gap, a recovery, a new subscription). An L2
    /// read in flight across one may have read what a lost invalidation would have removed: it is served, not cached.
    /// </summary>
    private long _reconciliations;

    /// <summary>A shared read's outcome: an entry (a hit), or the key's epoch; Failed when the tier could not be asked.</summary>
    private readonly record struct SharedRead(CacheEntry? Entry, long Epoch, bool Failed);

    /// <summary>
    /// The rest of a flight's shared-tier step after a first read that served nothing (<see cref="RunFlightAsync"/> makes that
    /// read itself, so an L2 hit passes through no frame but its own): the fleet lease, or the value another node computes.
    /// </summary>
    private async ValueTask<SharedOutcome> ContinueSharedMissAsync<T>(Flight flight, FamilyState family, SharedRead read, CacheEntry? refreshing, bool storeLocally)
    {
        var token = flight.FactoryToken;
        if (read.Failed)
        {
            return new SharedOutcome(null, -1, null); // shared tier down: compute locally, do not try to store
        }

        var leaseTime = LeaseTimeFor(family);
        SharedTierLease? lease;
        try
        {
            lease = await _tier!.TryAcquireLeaseAsync(flight.Key, leaseTime, token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.SharedReadFailed(_logger, flight.Key, ex);
            return new SharedOutcome(null, read.Epoch, null);
        }

        if (lease is not null)
        {
            return new SharedOutcome(null, lease.Epoch, lease);
        }

        if (refreshing is not null)
        {
            return new SharedOutcome(new FlightResult(refreshing.Value, refreshing, Stale: false), refreshing.Epoch, null); // another node refreshes
        }

        // Another node computes. A value within fail-safe policy is served at once; otherwise wait for its "filled" notice.
        if (StaleCandidate(flight.Key, family, confirmedOnly: true) is { } stale)
        {
            return new SharedOutcome(new FlightResult(stale.Value, stale, Stale: true), 0, null);
        }

        using (var wait = CoherentTelemetry.StartSpan("coherent.lease.wait", flight.Key, family))
        {
            var filledInTime = await _tier.WaitForFillAsync(flight.Key, leaseTime, token).ConfigureAwait(false);
            CoherentTelemetry.SetOutcome(wait, filledInTime ? "filled" : "timeout");
        }

        var start = BeginSharedRead();
        SharedTierRead result;
        var span = CoherentTelemetry.StartSpan("coherent.l2.read", flight.Key, family);
        try
        {
            result = await _tier.ReadAsync(new SharedTierKey(flight.Key, family.Name), token).ConfigureAwait(false);
            CoherentTelemetry.SetOutcome(span, CoherentTelemetry.ReadOutcome(result));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.SharedReadFailed(_logger, flight.Key, ex);
            CoherentTelemetry.SetFailed(span, ex);
            result = SharedTierRead.Unavailable;
        }
        finally
        {
            span?.Dispose();
        }

        var after = EndSharedRead<T>(flight, family, start, result, storeLocally);
        return after.Entry is { } filled
            ? new SharedOutcome(new FlightResult(filled.Value, filled, Stale: false, FromShared: true), filled.Epoch, null)
            : new SharedOutcome(null, after.Epoch, null); // the other node failed or timed out: compute ourselves, still fenced
    }

    /// <summary>
    /// Taken right before a shared read. A tag bump (local, or from the bus) landing while the read is out may postdate the
    /// tier's check of the entry's tag versions: stamping the entry with the versions of now would make an old value current.
    /// Such a read is served, not cached. So is a read while this node's own tag invalidation or clear is out: local versions
    /// moved at its start, the tier learns the new one only when Redis answers, so the tier may judge an old entry current
    /// meanwhile.
    /// </summary>
    private SharedReadStart BeginSharedRead() => new(_tags.BumpCount, Volatile.Read(ref _versionWritesInFlight), Volatile.Read(ref _reconciliations), _clock.PreciseNowMs());

    /// <summary>Turns a shared read into an entry and, on a hit, fills L1 (fenced like a computed value; see <see cref="BeginSharedRead"/>).</summary>
    private SharedRead EndSharedRead<T>(Flight flight, FamilyState family, SharedReadStart start, in SharedTierRead result, bool storeLocally)
    {
        if (result.Status == SharedTierReadStatus.Unavailable)
        {
            return new SharedRead(null, 0, true);
        }

        if (result.Entry is not { } shared)
        {
            // An expired value the tier kept for fail-safe goes into L1 as what it is (expired, never served as fresh): the
            // fail-safe and its throttle find it there if the factory fails, on a node whose L1 never held the key.
            if (result.Stale is { } kept && family.FailSafeMaxAgeMs >= 0 && kept.CreatedAtMs + family.FailSafeMaxAgeMs > _clock.PreciseNowMs())
            {
                _ = FillLocal<T>(flight, family, start, kept, storeLocally);
            }

            return new SharedRead(null, result.Epoch, false);
        }

        return FillLocal<T>(flight, family, start, shared, storeLocally) is { } entry
            ? new SharedRead(entry, shared.Epoch, false)
            : new SharedRead(null, result.Epoch, false);
    }

    /// <summary>A shared entry as an L1 entry, stored in L1 unless the read was fenced meanwhile; null when its bytes are unreadable.</summary>
    private CacheEntry? FillLocal<T>(Flight flight, FamilyState family, SharedReadStart start, SharedTierEntry shared, bool storeLocally)
    {
        T value;
        try
        {
            value = SerializerGuard.Deserialize<T>(_serializer, flight.Key, shared.Payload);
        }
        catch (CacheSerializationException ex)
        {
            // Unreadable bytes are a miss, never a crash; the recompute overwrites them.
            Log.SharedReadFailed(_logger, flight.Key, ex);
            return null;
        }

        var now = _clock.PreciseNowMs();
        var (tags, stamps) = _tags.Snapshot(shared.Tags);
        // Fetched when the read began: what the reply holds may be that old, and staleness is bounded from there.
        var (entry, _) = CreateEntry(flight.Key, family, value, shared.CreatedAtMs, now, shared.DeltaMs, null, tags, stamps, flight.ClearStamp, shared.Epoch, shared.ExpiresAtMs, start.AtMs);
        if (!flight.Fenced && flight.ClearStamp == _tags.ClearVersion && (tags is null || _tags.BumpCount == start.TagBumps)
            && start.VersionWritesInFlight == 0 && Volatile.Read(ref _versionWritesInFlight) == 0 && start.Reconciliations == Volatile.Read(ref _reconciliations)
            && storeLocally && _l1.AdmitFill(flight.Key))
        {
            _l1.Set(entry);
            if (flight.Fenced || start.Reconciliations != Volatile.Read(ref _reconciliations))
            {
                _l1.Remove(entry);
            }
        }

        return entry;
    }

    /// <summary>Reads without a flight (TryGetAsync): returns the value but does not fill L1, since nothing fences it.</summary>
    private async ValueTask<CacheEntry?> TryReadSharedAsync(string key, FamilyState family, CancellationToken token)
    {
        try
        {
            var result = await _tier!.LookupAsync(new SharedTierKey(key, family.Name), token).ConfigureAwait(false);
            if (result.Entry is not { } shared)
            {
                return null;
            }

            var now = _clock.PreciseNowMs();
            return new CacheEntry(key, new SerializedValue(shared.Payload.ToArray(), typeof(object)), family)
            {
                CreatedAtMs = shared.CreatedAtMs,
                FetchedAtMs = now,
                ExpiresAtMs = shared.ExpiresAtMs,
                RetainUntilMs = shared.ExpiresAtMs,
                Epoch = shared.Epoch,
            };
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.SharedReadFailed(_logger, key, ex);
            return null;
        }
    }

    /// <summary>The shared tier's versions before a factory runs; null when they cannot be read (then the fill stays local).</summary>
    private async ValueTask<SharedTierVersions?> CaptureSharedVersionsAsync(string key, IReadOnlyList<string>? tags, CancellationToken token)
    {
        try
        {
            return await _tier!.CaptureVersionsAsync(tags, token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.SharedReadFailed(_logger, key, ex);
            return null;
        }
    }

    private async ValueTask<bool> StoreSharedAsync(string key, CacheEntry entry, byte[] payload, CacheEntryOptions? options, long epoch, SharedTierVersions? versions, SharedTierLease? lease)
    {
        if (epoch < 0)
        {
            return true; // the read failed: the shared tier is down, keep the value locally only
        }

        using var span = CoherentTelemetry.StartSpan("coherent.l2.write", key, entry.Family);
        try
        {
            var stored = await _tier!.StoreIfEpochAsync(new SharedTierKey(key, entry.Family.Name), ToShared(entry, payload, options, versions), epoch, lease, _disposing.Token).ConfigureAwait(false);
            CoherentTelemetry.SetOutcome(span, stored ? "stored" : "fenced");
            return stored;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.SharedStoreFailed(_logger, key, ex);
            CoherentTelemetry.SetFailed(span, ex);
            return true; // keep it locally; the shared tier will be refilled by the next miss
        }
    }

    private async ValueTask<CacheEntry> SetSharedAsync(string key, CacheEntry entry, byte[] payload, CacheEntryOptions? options, CancellationToken token)
    {
        long epoch;
        using (var span = CoherentTelemetry.StartSpan("coherent.l2.write", key, entry.Family))
        {
            try
            {
                epoch = await _tier!.SetAsync(new SharedTierKey(key, entry.Family.Name), ToShared(entry, payload, options, null), token).ConfigureAwait(false);
                CoherentTelemetry.SetOutcome(span, "stored");
            }
            catch (Exception ex) when (span is not null)
            {
                CoherentTelemetry.SetFailed(span, ex);
                throw;
            }
        }

        return new CacheEntry(key, entry.Value, entry.Family)
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
    private ValueTask InvalidateSharedAsync(string key, FamilyState family, CancellationToken token) =>
        CoherentTelemetry.ActivitySource.HasListeners() ? InvalidateSharedTracedAsync(key, family, token) : _tier!.InvalidateAsync(new SharedTierKey(key, family.Name), token);

    private async ValueTask InvalidateSharedTracedAsync(string key, FamilyState family, CancellationToken token)
    {
        using var span = CoherentTelemetry.StartSpan("coherent.invalidate", key, family);
        try
        {
            await _tier!.InvalidateAsync(new SharedTierKey(key, family.Name), token).ConfigureAwait(false);
            CoherentTelemetry.SetOutcome(span, "published");
        }
        catch (Exception ex) when (span is not null)
        {
            // InvalidationFailedException: queued and retried by the tier; the span says it did not reach the fleet now.
            CoherentTelemetry.SetFailed(span, ex);
            throw;
        }
    }

    private ValueTask InvalidateTagSharedAsync(string tag, CancellationToken token) => _tier!.InvalidateTagAsync(tag, token);

    private ValueTask ClearSharedAsync(CancellationToken token) => _tier!.ClearAsync(token);

    private async ValueTask ReleaseLeaseQuietlyAsync(SharedTierLease lease)
    {
        try
        {
            await _tier!.ReleaseLeaseAsync(lease, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.SharedStoreFailed(_logger, lease.Key, ex); // the lease expires by itself
        }
    }

    private static SharedTierEntry ToShared(CacheEntry entry, byte[] payload, CacheEntryOptions? options, SharedTierVersions? versions) => new()
    {
        Payload = payload,
        CreatedAtMs = entry.CreatedAtMs,
        ExpiresAtMs = entry.CreatedAtMs + EntryLifetime.TtlMs(entry.Family, options),
        RetainUntilMs = entry.Family.FailSafeMaxAgeMs >= 0 ? entry.CreatedAtMs + entry.Family.FailSafeMaxAgeMs : 0,
        DeltaMs = entry.DeltaMs,
        Epoch = entry.Epoch,
        Tags = entry.Tags?.Select(t => t.Name).ToArray(),
        Versions = versions,
    };

    void ISharedTierHost.RecordInvalidationLag(string key, double lagMs)
    {
        if (_telemetry.InvalidationLag.Enabled)
        {
            _telemetry.RecordInvalidationLag(_families.Resolve(key), lagMs); // the tier measures in ms; recorded in seconds
        }
    }

    /// <summary>About three times the usual compute time (bounded to 1–30 s), or the hard timeout when one is set.</summary>
    private static TimeSpan LeaseTimeFor(FamilyState family)
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
