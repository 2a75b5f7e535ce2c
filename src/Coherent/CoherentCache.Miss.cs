using Coherent.Local;
using Coherent.Policies;
using Coherent.Refresh;
using Coherent.Stampede;

namespace Coherent;

/// <summary>
/// The caller's side of a miss: the slow path's checks, joining or starting the key's flight through the gate, and waiting
/// for it (with a soft timeout's stale answer). What the flight does is <see cref="Flight{TState, T}"/>'s.
/// </summary>
public sealed partial class CoherentCache
{
    /// <summary>
    /// The slow path, up to waiting for the flight. Not an async method itself: a caller without a soft timeout waits in
    /// <see cref="AwaitFlightAsync"/> only, so an L2 hit keeps one suspended frame (and its heap box) fewer on the
    /// caller's side. What it throws fails the returned task, as an async method's exceptions would.
    /// </summary>
    private ValueTask<T> GetOrSetSlowAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options, CancellationToken cancellationToken)
    {
        try
        {
            ThrowIfDisposed();
            ArgumentNullException.ThrowIfNull(factory);
            KeyRules.ValidateFull(key, _maxKeyLength);
            cancellationToken.ThrowIfCancellationRequested();
            var family = _families.Resolve(key);
            KeyRules.ValidateTags(options?.Tags);
            if (TryServeLocal(key, family, state, factory, options, out var local, out _))
            {
                return new ValueTask<T>(local);
            }

            // Never join a flight a caller starting now may not see (invalidated or abandoned since it began): the gate starts a new one.
            var (flight, owner) = _gate.JoinOrStart(key, Flight<TState, T>.ForCaller, new Flight<TState, T>.Args(this, family, state, factory, options), asWaiter: true);
            if (family.Policy.SoftTimeout is { } soft)
            {
                return AwaitWithSoftTimeoutAsync<TState, T>(flight, owner, soft, family, cancellationToken);
            }

            StartOrJoin<TState, T>(flight, owner, onPool: false, family);
            return AwaitFlightAsync<T>(flight, family, softDeadline: null, cancellationToken);
        }
        catch (Exception ex)
        {
            return ex is OperationCanceledException { CancellationToken.IsCancellationRequested: true } canceled
                ? ValueTask.FromCanceled<T>(canceled.CancellationToken)
                : ValueTask.FromException<T>(ex);
        }
    }

    /// <summary>
    /// L1's answer for a caller past the fast path: a servable entry (counted, and maybe refreshed early), or the last value
    /// while fail-safe's throttle holds the factory back (<paramref name="served"/>: the entry it came from). False when the
    /// caller must go to the key's flight.
    /// </summary>
    private bool TryServeLocal<TState, T>(string key, FamilyState family, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options, out T value, out CacheEntry? served)
    {
        var now = _clock.PreciseNowMs();
        var readLocal = options?.SkipLocalRead != true;
        if (readLocal && _l1.Peek(key, out var entry))
        {
            if (IsServable(entry, now))
            {
                // Hits that miss the fast path (copy-on-read families) get early refresh too.
                RecordServed(entry, now, state, factory, options);
                value = ReadValue<T>(entry);
                served = entry;
                return true;
            }

            // Fail-safe throttle: the factory failed recently; keep serving the last value instead of hammering the source.
            if (entry.ThrottleUntilMs > now && now < entry.RetainUntilMs && entry.IsValid(_tags.ClearVersion))
            {
                _events.StaleServed(family, entry);
                value = ReadValue<T>(entry);
                served = entry;
                return true;
            }
        }
        else if (readLocal)
        {
            _l1.RecordMiss(key);
        }

        value = default!;
        served = null;
        return false;
    }

    private async ValueTask<T> AwaitFlightAsync<T>(Flight flight, FamilyState family, Task? softDeadline, CancellationToken cancellationToken)
    {
        try
        {
            if (softDeadline is not null && StaleCandidate(flight.Key, family, confirmedOnly: true) is not null)
            {
                var first = await Task.WhenAny(flight.Task, softDeadline).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (first != flight.Task && !flight.Task.IsCompleted && StaleCandidate(flight.Key, family, confirmedOnly: true) is { } stale)
                {
                    // Let the factory finish and refresh the entry; this caller gets the last value now.
                    flight.MarkBackground();
                    _events.StaleServed(family, stale);
                    _events.SoftTimeoutServedStale(flight.Key, family);
                    return ReadValue<T>(stale);
                }

                // Otherwise the factory finished first, or the last value is gone (invalidated meanwhile): wait for its outcome.
            }

            FlightResult result;
            try
            {
                result = await flight.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                _events.FailedRead(family);
                throw;
            }

            return ReadResult<T>(result, family);
        }
        finally
        {
            flight.RemoveWaiter();
        }
    }

    /// <summary>A family with a soft timeout: its deadline and the flight's start, then the wait.</summary>
    private async ValueTask<T> AwaitWithSoftTimeoutAsync<TState, T>(Flight flight, bool owner, TimeSpan soft, FamilyState family, CancellationToken cancellationToken)
    {
        // The soft timeout counts from here, and its timer exists before the factory can start (a test clock advanced
        // as soon as the factory runs must find it registered).
        using var softCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var softDeadline = Task.Delay(soft, _clock.TimeProvider, softCts.Token);

        // The soft timeout can only fire if the factory cannot hold this caller's thread (a factory that blocks before its
        // first await would run to the end before the caller starts waiting): the flight starts on the pool.
        StartOrJoin<TState, T>(flight, owner, onPool: true, family);

        try
        {
            return await AwaitFlightAsync<T>(flight, family, softDeadline, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            softCts.Cancel(); // release the soft-timeout timer
        }
    }

    /// <summary>The owner starts the flight it built (here, or on the pool); any other caller has joined one, which is counted.</summary>
    private void StartOrJoin<TState, T>(Flight flight, bool owner, bool onPool, FamilyState family)
    {
        if (owner)
        {
            ((Flight<TState, T>)flight).Start(onPool);
        }
        else
        {
            _events.Joined(family);
        }
    }

    /// <summary>
    /// The last value, if fail-safe allows one this old. With <paramref name="confirmedOnly"/> (nothing failed: a soft timeout,
    /// or another node computing) it must also be current as any read's (fetched or confirmed within MaxStaleness): only a
    /// failed factory may serve past the staleness bound, which is what declaring FailSafe means.
    /// </summary>
    internal CacheEntry? StaleCandidate(string key, FamilyState family, bool confirmedOnly = false)
    {
        if (family.FailSafeMaxAgeMs < 0 || !_l1.Peek(key, out var entry) || !entry.IsValid(_tags.ClearVersion))
        {
            return null;
        }

        var now = _clock.PreciseNowMs();
        return family.FailSafeAllows(entry.CreatedAtMs, now) && (!confirmedOnly || IsCurrent(entry, now)) ? entry : null;
    }

    /// <summary>
    /// Counts a served L1 entry once: as a hit, or as an early refresh when this read started one (inside the entry's XFetch
    /// window). Either way it is recorded into the LFU policy and the served-age histogram.
    /// </summary>
    private void RecordServed<TState, T>(CacheEntry entry, long now, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options)
    {
        if (now >= entry.EarlyRefreshFromMs && MaybeRefreshEarly(entry, now, state, factory, options))
        {
            _l1.RecordHit(entry, 0);
            RecordServedAge(entry, now);
            return;
        }

        RecordHit(entry, now);
    }

    /// <summary>Starts a background refresh if XFetch says so and none runs for the key; true when this call started one.</summary>
    private bool MaybeRefreshEarly<TState, T>(CacheEntry entry, long now, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options)
    {
        if (entry.Family.Policy.EarlyRefreshBeta is not { } beta
            || !XFetch.ShouldRefresh(now, entry.ExpiresAtMs, entry.DeltaMs, beta, XFetch.NextU(_random))
            || !entry.TryBeginRefresh())
        {
            return false;
        }

        var (flight, owner) = _gate.JoinOrStart(entry.Key, Flight<TState, T>.ForRefresh, new Flight<TState, T>.Args(this, entry.Family, state, factory, options), asWaiter: false);
        if (!owner)
        {
            return false;
        }

        _events.EarlyRefresh(entry.Family);

        // On the thread pool: the factory may do synchronous work before its first await, and the caller of this hit
        // must get the current value at once, not after the refresh.
        ((Flight<TState, T>)flight).Start(onPool: true);
        return true;
    }

    /// <summary>
    /// A flight's outcome for one of its callers, counted once: stale (fail-safe, or another node computes), or a miss that
    /// read L2 or computed (a caller that joined a run counts as its outcome: the value came from L2 or from a factory).
    /// </summary>
    private T ReadResult<T>(FlightResult result, FamilyState family)
    {
        if (result.Stale)
        {
            _events.StaleServed(family, result.Entry);
        }
        else if (result.FromShared)
        {
            _events.L2Hit(family, result.Entry);
        }
        else
        {
            _events.Computed(family, result.Entry);
        }

        return result.Entry is { } e ? ReadValue<T>(e) : CastValue<T>(result.Value, "");
    }
}
