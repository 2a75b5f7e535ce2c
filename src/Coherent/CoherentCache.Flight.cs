using System.Diagnostics;
using Coherent.SharedTier;
using Coherent.Local;
using Coherent.Policies;
using Coherent.Refresh;
using Coherent.Serialization;
using Coherent.Stampede;
using Coherent.Telemetry;

namespace Coherent;

public sealed partial class CoherentCache
{
    /// <summary>
    /// Runs one flight to completion: shared tier read, lease, factory with timeouts, fenced store, fail-safe.
    /// Never throws; the outcome goes to the flight's waiters. The flight leaves the table only after the store,
    /// so an invalidation either finds it (and fences it) or finds the stored entry (and removes it).
    /// </summary>
    private Task RunFlightAsync<TState, T>(Flight flight, FamilyState family, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options) =>
        _tier is not null && options?.LocalOnly != true
            ? RunFlightFromSharedReadAsync(flight, family, state, factory, options)
            : RunFlightPastSharedReadAsync(flight, family, state, factory, options, first: null);

    /// <summary>What the first shared read of a flight found, for the rest of the flight when it was not a hit.</summary>
    private readonly record struct FirstSharedRead(SharedRead Read, CacheEntry? Refreshing, Invalidation.TagState[]? Tags, long[]? Stamps);

    /// <summary>
    /// The flight's first shared read, in a frame of its own: an L2 hit ends here, and what a suspended async method keeps
    /// goes into a heap box sized by everything the method holds across its awaits, so the lease, factory and store steps
    /// must not share this frame (sizes: docs/benchmarks.md); the rest of the flight runs only on a miss.
    /// </summary>
    private async Task RunFlightFromSharedReadAsync<TState, T>(Flight flight, FamilyState family, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options)
    {
        FirstSharedRead first;
        try
        {
            // Inside the try: anything thrown here must fail the flight, or its waiters would wait forever.
            var (tags, stamps) = _tags.Snapshot(options?.Tags);
            flight.SetTagSnapshot(tags, stamps);

            // An early (XFetch) refresh must not be satisfied by the very value it refreshes: only a newer L2 value counts,
            // otherwise it takes the fleet lease so one node refreshes.
            var refreshing = flight.IsBackground && _l1.Peek(flight.Key, out var current) ? current : null;
            var start = BeginSharedRead();
            SharedTierRead result;
            var span = CoherentTelemetry.StartSpan("coherent.l2.read", flight.Key, family);
            try
            {
                result = await _tier!.ReadAsync(new SharedTierKey(flight.Key, family.Name), flight.FactoryToken).ConfigureAwait(false);
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

            var read = EndSharedRead<T>(flight, family, start, result, storeLocally: options?.SkipLocalWrite != true);
            if (read.Entry is { } hit && (refreshing is null || hit.CreatedAtMs > refreshing.CreatedAtMs))
            {
                flight.Complete(new FlightResult(hit.Value, hit, Stale: false, FromShared: true));
                _flights.Remove(flight);
                return;
            }

            first = new FirstSharedRead(read, refreshing, tags, stamps);
        }
        catch (Exception ex)
        {
            flight.Fail(ex);
            _flights.Remove(flight);
            return;
        }

        await RunFlightPastSharedReadAsync(flight, family, state, factory, options, first).ConfigureAwait(false);
    }

    /// <summary>The flight after its first shared read missed (or without a shared tier): lease, factory, fenced store.</summary>
    private async Task RunFlightPastSharedReadAsync<TState, T>(Flight flight, FamilyState family, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options, FirstSharedRead? first)
    {
        var useShared = first is not null;
        SharedTierLease? lease = null;
        SharedTierVersions? versions = null;
        var epoch = 0L;
        try
        {
            // Inside the try: anything thrown here must fail the flight, or its waiters would wait forever.
            Invalidation.TagState[]? tags;
            long[]? stamps;
            if (first is { } missed)
            {
                (tags, stamps) = (missed.Tags, missed.Stamps); // snapshot set on the flight before its shared read
                var shared = await ContinueSharedMissAsync<T>(flight, family, missed.Read, missed.Refreshing, storeLocally: options?.SkipLocalWrite != true).ConfigureAwait(false);
                if (shared.Served is { } served)
                {
                    flight.Complete(served);
                    return;
                }

                epoch = shared.Epoch;
                lease = shared.Lease;
                if (epoch >= 0)
                {
                    // Before the factory reads its source: the fill is stamped with these versions, never later ones.
                    versions = await CaptureSharedVersionsAsync(flight.Key, options?.Tags, flight.FactoryToken).ConfigureAwait(false);
                    epoch = versions is null ? -1 : epoch;
                }
            }
            else
            {
                (tags, stamps) = _tags.Snapshot(options?.Tags);
                flight.SetTagSnapshot(tags, stamps);
            }

            T value;
            double deltaMs;

            // Staleness counts from before the factory read its source, not from when it returned: an invalidation this node
            // misses while the factory runs must not stretch the MaxStaleness bound by the factory's time.
            var fetchedAtMs = _clock.PreciseNowMs();
            try
            {
                (value, deltaMs) = await RunFactoryAsync(flight, family, state, factory).ConfigureAwait(false);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && flight.FactoryToken.IsCancellationRequested && !flight.IsBackground && ex is not FactoryTimeoutException))
            {
                family.Stats.FactoryFailures.Increment();
                if (ex is not FactoryTimeoutException)
                {
                    Log.FactoryFailed(_logger, flight.Key, family.Name, ex);
                }

                if (flight.IsBackground)
                {
                    Log.BackgroundRefreshFailed(_logger, flight.Key, family.Name, ex);
                }

                // A background refresh nobody waits on serves no one: it still starts the throttle, but counts no activation.
                if (TryFailSafe(flight.Key, family, serving: !flight.IsBackground || flight.HasWaiters) is { } stale)
                {
                    flight.Complete(new FlightResult(stale.Value, stale, Stale: true));
                    return;
                }

                flight.Fail(ex);
                return;
            }

            var entry = await StoreComputedAsync(flight, family, value, deltaMs, fetchedAtMs, options, tags, stamps, epoch, versions, useShared ? lease : null, useShared).ConfigureAwait(false);
            lease = null; // released by the store
            flight.Complete(new FlightResult(value, entry, Stale: false));
        }
        catch (Exception ex)
        {
            flight.Fail(ex);
        }
        finally
        {
            if (lease is not null)
            {
                await ReleaseLeaseQuietlyAsync(lease).ConfigureAwait(false);
            }

            _flights.Remove(flight);
        }
    }

    /// <summary>A family with a soft timeout: its deadline and the flight's start, then the wait.</summary>
    private async ValueTask<T> AwaitWithSoftTimeoutAsync<TState, T>(Flight flight, bool owner, TimeSpan soft, FamilyState family, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options, CancellationToken cancellationToken)
    {
        // The soft timeout counts from here, and its timer exists before the factory can start (a test clock advanced
        // as soon as the factory runs must find it registered).
        using var softCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var softDeadline = Task.Delay(soft, _clock.TimeProvider, softCts.Token);

        // The soft timeout can only fire if the factory cannot hold this caller's thread (a factory that blocks before its
        // first await would run to the end before the caller starts waiting): the flight starts on the pool.
        StartOrJoin(flight, owner, onPool: true, family, state, factory, options);

        try
        {
            return await AwaitFlightAsync<T>(flight, family, softDeadline, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            softCts.Cancel(); // release the soft-timeout timer
        }
    }

    /// <summary>The owner starts the flight (here, or on the pool); any other caller has joined it, which is counted.</summary>
    private void StartOrJoin<TState, T>(Flight flight, bool owner, bool onPool, FamilyState family, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options)
    {
        if (!owner)
        {
            family.Stats.SingleFlightJoins.Increment();
        }
        else if (onPool)
        {
            RunFlightOnPool(flight, family, state, factory, options);
        }
        else
        {
            _ = RunFlightAsync(flight, family, state, factory, options);
        }
    }

    /// <summary>
    /// Starts a flight on the thread pool. A method of its own: a lambda capturing a method's parameters makes the compiler
    /// allocate its closure when that method is entered, whichever branch runs: in <c>GetOrSetSlowAsync</c> it cost an
    /// allocation on every miss.
    /// </summary>
    private void RunFlightOnPool<TState, T>(Flight flight, FamilyState family, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options) =>
        _ = Task.Run(() => RunFlightAsync(flight, family, state, factory, options), CancellationToken.None);

    private async ValueTask<(T Value, double DeltaMs)> RunFactoryAsync<TState, T>(Flight flight, FamilyState family, TState state, Func<TState, CancellationToken, ValueTask<T>> factory)
    {
        using var activity = CoherentTelemetry.ActivitySource.StartActivity("coherent.factory", ActivityKind.Internal);
        activity?.SetTag("coherent.key", flight.Key);
        activity?.SetTag("coherent.family", family.Name);
        var start = _clock.GetTimestamp();
        family.Stats.FactoryRuns.Increment();
        T value;
        try
        {
            if (family.Policy.HardTimeout is { } hard)
            {
                // The deadline's timer is registered before the factory starts, and the factory runs on the pool, so that a
                // factory blocking before its first await can delay neither the timer nor its own timeout.
                var token = flight.FactoryToken;
                using var deadlineCts = new CancellationTokenSource();
                var deadline = Task.Delay(hard, _clock.TimeProvider, deadlineCts.Token);
                var task = InvokeFactoryOnPool(state, factory, token);
                var first = await Task.WhenAny(task, deadline).ConfigureAwait(false);
                await deadlineCts.CancelAsync().ConfigureAwait(false); // release the deadline's timer
                if (first != task)
                {
                    // Our timeout (a TimeoutException the factory throws itself completes the task and passes through as is).
                    flight.CancelFactory();
                    _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    Log.FactoryTimedOut(_logger, flight.Key, family.Name, hard);
                    activity?.SetStatus(ActivityStatusCode.Error, "hard timeout");
                    throw new FactoryTimeoutException(flight.Key, hard);
                }

                value = await task.ConfigureAwait(false);
            }
            else
            {
                value = await InvokeFactory(state, factory, flight.FactoryToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (activity is not null && ex is not FactoryTimeoutException)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }

        var deltaMs = _clock.GetElapsedTime(start).TotalMilliseconds;
        family.Stats.RecordFactoryCost(deltaMs);
        _telemetry.RecordFactoryDuration(family, deltaMs);
        return (value, deltaMs);
    }

    /// <summary>The factory on the thread pool; a method of its own so that only the hard-timeout path allocates the closure.</summary>
    private static Task<T> InvokeFactoryOnPool<TState, T>(TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CancellationToken token) =>
        Task.Run(() => InvokeFactory(state, factory, token).AsTask(), CancellationToken.None);

    private static ValueTask<T> InvokeFactory<TState, T>(TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CancellationToken token)
    {
        try
        {
            return factory(state, token);
        }
        catch (Exception ex)
        {
            // A factory that throws before returning its task fails the same way as one whose task faults.
            return ValueTask.FromException<T>(ex);
        }
    }

    /// <summary>
    /// Stores a computed value unless the key was invalidated, overwritten, tag-invalidated or cleared since the flight began
    /// (then the value is returned to callers but not cached). Returns the entry (stored or not).
    /// </summary>
    private async ValueTask<CacheEntry> StoreComputedAsync<T>(Flight flight, FamilyState family, T value, double deltaMs, long fetchedAtMs, CacheEntryOptions? options,
        Invalidation.TagState[]? tags, long[]? stamps, long epoch, SharedTierVersions? versions, SharedTierLease? lease, bool useShared)
    {
        var now = _clock.PreciseNowMs();
        var (entry, payload) = CreateEntry(flight.Key, family, value, now, now, deltaMs, options, tags, stamps, flight.ClearStamp, epoch, fetchedAtMs: fetchedAtMs);
        if (flight.Fenced || flight.ClearStamp != _tags.ClearVersion || !entry.TagsCurrent())
        {
            Log.FencedResultDropped(_logger, flight.Key);
            if (lease is not null)
            {
                await ReleaseLeaseQuietlyAsync(lease).ConfigureAwait(false);
            }

            return entry;
        }

        if (useShared && options?.SkipSharedWrite == true)
        {
            // Read from the shared tier but not written to it: a lease taken for the fill is handed back to the waiters.
            if (lease is not null)
            {
                await ReleaseLeaseQuietlyAsync(lease).ConfigureAwait(false);
            }

            useShared = false;
        }

        if (useShared && !await StoreSharedAsync(flight.Key, entry, payload ?? SerializerGuard.Serialize(_serializer, flight.Key, value, _maxPayloadBytes), options, epoch, versions, lease).ConfigureAwait(false))
        {
            return entry; // fenced out by the shared epoch: another node invalidated the key meanwhile
        }

        if (useShared && (flight.ClearStamp != _tags.ClearVersion || !entry.TagsCurrent()))
        {
            // A tag invalidation or clear landed while the value was being stored: the shared copy may carry the new tag
            // version with the old value (tag bumps do not move the key's epoch). Void it; retried if Redis is unreachable.
            Log.FencedResultDropped(_logger, flight.Key);
            await VoidSharedQuietlyAsync(new SharedTierKey(flight.Key, entry.Family.Name)).ConfigureAwait(false);
            return entry;
        }

        if (Volatile.Read(ref _disposed) == 1)
        {
            return entry; // disposed while the factory ran: keep the emptied L1 empty
        }

        // Check-and-store atomically with Fence: storing first and undoing on a late fence left a window in which a read
        // that began after the invalidation returned saw the fenced (pre-invalidation) value.
        if (options?.SkipLocalWrite == true || !_l1.AdmitFill(flight.Key))
        {
            return entry; // not to be cached locally, or a full L1 caching a key on its second miss (see L1Store.AdmitFill)
        }

        // The LFU's upkeep runs after the flight's store lock is released: an invalidation fencing this flight waits for
        // the lock, and need not wait for the upkeep too.
        if (flight.TryStoreLocally(static s => s.L1.Set(s.Entry, maintain: false), (L1: _l1, Entry: entry)))
        {
            _l1.Maintain();
        }
        else
        {
            Log.FencedResultDropped(_logger, flight.Key);
        }

        return entry;
    }

    private async ValueTask VoidSharedQuietlyAsync(SharedTierKey key)
    {
        try
        {
            await _tier!.InvalidateAsync(key, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.SharedStoreFailed(_logger, key.Key, ex); // InvalidationFailedException: queued and retried by the tier
        }
    }

    /// <summary>Builds an entry with jittered expiry, XFetch window and fail-safe retention. Returns the payload if it had to serialize.</summary>
    private (CacheEntry Entry, byte[]? Payload) CreateEntry<T>(string key, FamilyState family, T value, long createdAt, long now, double deltaMs,
        CacheEntryOptions? options, Invalidation.TagState[]? tags, long[]? stamps, long clearStamp, long epoch, long? sharedExpiresAt = null, long? fetchedAtMs = null)
    {
        var ttlMs = EntryLifetime.TtlMs(family, options);
        var localMs = EntryLifetime.LocalMs(family, options, ttlMs);
        var expires = now + Jitter.Apply(localMs, family.Policy.Jitter, _random);
        if (sharedExpiresAt is { } shared)
        {
            expires = Math.Min(expires, shared);
        }

        byte[]? payload = null;
        object? stored = value;
        if (family.Policy.CopyOnRead || (_copyMutableValues && !ImmutableType<T>.IsImmutable))
        {
            payload = SerializerGuard.Serialize(_serializer, key, value, _maxPayloadBytes);
            stored = new SerializedValue(payload, typeof(T));
        }

        var retain = family.FailSafeMaxAgeMs >= 0 ? Math.Max(expires, createdAt + family.FailSafeMaxAgeMs) : expires;
        var entry = new CacheEntry(key, stored, family)
        {
            CreatedAtMs = createdAt,
            FetchedAtMs = fetchedAtMs ?? now,
            ExpiresAtMs = expires,
            RetainUntilMs = retain,
            DeltaMs = deltaMs,
            EarlyRefreshFromMs = XFetch.WindowStart(expires, deltaMs, family.Policy.EarlyRefreshBeta),
            Epoch = epoch,
            ClearStamp = clearStamp,
            Tags = tags,
            TagStamps = stamps,
        };
        return (entry, payload);
    }

    /// <summary>Fail-safe: the last value, if the policy allows one this old; starts the throttle so the factory is not retried at once.</summary>
    private CacheEntry? TryFailSafe(string key, FamilyState family, bool serving)
    {
        if (StaleCandidate(key, family) is not { } entry)
        {
            return null;
        }

        var now = _clock.PreciseNowMs();
        entry.ThrottleUntil(now + family.FailSafeThrottleMs);
        if (!serving)
        {
            return entry;
        }

        family.Stats.FailSafeActivations.Increment(); // each caller served the value is counted as a stale request
        Log.FailSafeActivated(_logger, key, family.Name, entry.AgeMs(now), family.Policy.FailSafeThrottle);
        return entry;
    }
}
