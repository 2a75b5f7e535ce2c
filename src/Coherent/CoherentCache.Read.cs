using System.Runtime.CompilerServices;
using Coherent.Local;
using Coherent.Policies;
using Coherent.Refresh;
using Coherent.Serialization;
using Coherent.Stampede;
using Coherent.Telemetry;

namespace Coherent;

public sealed partial class CoherentCache
{
    /// <inheritdoc />
    public ValueTask<T> GetOrSetAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        // Checked here: the overload below sees only the (never null) adapter and would call a null factory.
        ArgumentNullException.ThrowIfNull(factory);
        return GetOrSetAsync(key, factory, static (f, ct) => f(ct), options, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<T> GetOrSetAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        // Only null is checked before the lookup: an empty, oversized or otherwise invalid key is never stored, so it
        // misses here and the slow path rejects it with the full rules.
        // No out-parameters on this path: an out local lives in the stack frame, and every use of the entry was then a
        // store-and-reload.
        if (key is not null && options?.SkipLocalRead != true && _l1.Map.Find(key) is { } entry)
        {
            // The common hit, kept small (every field it reads sits in the entry's first two cache lines): not expired,
            // before any early-refresh window (one comparison covers both), valid, confirmed, and stored as exactly a T.
            var now = _clock.NowMs;
            if (now < entry.HotUntilMs && IsCurrent(entry, now) && IsExactly<T>(entry))
            {
                RecordHit(entry, now);
                return new ValueTask<T>(ExactValue<T>(entry));
            }

            return GetOrSetWarm(entry, now, key, state, factory, options, cancellationToken);
        }

        return GetOrSetSlowAsync(key!, state, factory, options, cancellationToken);
    }

    /// <summary>The rest of the hit path: the early-refresh window, values of a subtype of T, null, copy-on-read entries.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ValueTask<T> GetOrSetWarm<TState, T>(CacheEntry entry, long now, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options, CancellationToken cancellationToken)
    {
        if (IsServable(entry, now) && !entry.IsSerialized && TryCast(entry, out T value))
        {
            RecordServed(entry, now, state, factory, options);
            return new ValueTask<T>(value);
        }

        return GetOrSetSlowAsync(key, state, factory, options, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<CacheLookup<T>> TryGetAsync<T>(string key, CancellationToken cancellationToken = default) => TryGetAsync<T>(key, skipLocal: false, cancellationToken);

    /// <summary>The lookup; with <paramref name="skipLocal"/> (HybridCache's DisableLocalCacheRead) L1 is not consulted.</summary>
    internal async ValueTask<CacheLookup<T>> TryGetAsync<T>(string key, bool skipLocal, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        KeyRules.ValidateFull(key, _maxKeyLength);
        var family = _families.Resolve(key);
        var now = _clock.PreciseNowMs();
        CacheEntry? entry = null;
        var found = !skipLocal && _l1.Peek(key, out entry);
        if (found && IsServable(entry!, now))
        {
            RecordHit(entry!, now);
            return new CacheLookup<T>(true, ReadValue<T>(entry!));
        }

        if (!found && !skipLocal)
        {
            _l1.RecordMiss(key);
        }

        if (_tier is not null)
        {
            var filled = await TryReadSharedAsync(key, family, cancellationToken).ConfigureAwait(false);
            if (filled is not null)
            {
                // An L2 hit, not an L1 one (RecordHit would count it through the entry's hit slots): into the LFU, unsampled.
                _l1.RecordHit(filled, 0);
                RecordServedAge(filled, now);
                family.Stats.Misses.Increment();
                family.Stats.L2Hits.Increment();
                return new CacheLookup<T>(true, ReadValue<T>(filled));
            }
        }

        family.Stats.Misses.Increment();
        family.Stats.NotFound.Increment();
        return new CacheLookup<T>(false, default);
    }

    /// <summary>
    /// Fresh (not expired), valid (no tag or clear since stored) and confirmed: fetched, or covered by the bus's confirmation,
    /// within the family's MaxStaleness. Without a shared tier the confirmation is always current.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsServable(CacheEntry entry, long now) => now < entry.ExpiresAtMs && IsCurrent(entry, now);

    /// <summary>Valid and confirmed (see <see cref="IsServable"/>); says nothing about expiry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsCurrent(CacheEntry entry, long now)
    {
        if (!entry.IsValid(_tags.ClearVersion))
        {
            return false;
        }

        // Without a shared tier nothing can be unconfirmed (long.MaxValue): skip the family's bound altogether.
        var confirmed = Volatile.Read(ref _confirmedUpToMs);
        if (confirmed == long.MaxValue)
        {
            return true;
        }

        // Comfortably inside the bound by the cheap clock, or else judged by the exact one: the cheap clock can lag real
        // time, and a value confirmed just before the bound would then be served past it. The exact floor is one ms later
        // (the clock truncates to whole ms), so a value is never served even a fraction of a ms past MaxStaleness.
        var floor = now - entry.Family.MaxStalenessMs;
        return entry.FetchedAtMs >= floor + CacheClock.CoarseGuardMs || confirmed >= floor + CacheClock.CoarseGuardMs || IsCurrentByExactClock(entry, confirmed);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool IsCurrentByExactClock(CacheEntry entry, long confirmed)
    {
        var floor = _clock.PreciseNowMs() - entry.Family.MaxStalenessMs + 1;
        return entry.FetchedAtMs >= floor || confirmed >= floor;
    }

    /// <summary>Counts the hit (per family and thread stripe) and records it into the L1's LFU policy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RecordHit(CacheEntry entry, long now)
    {
        // The counter's stripe value doubles as the LFU's sampling tick: one stripe lookup per hit, not two.
        _l1.RecordHit(entry, StripedCounter.IncrementRelaxed(entry.HitSlots));
        RecordServedAge(entry, now);
    }

    /// <summary>How old the served value was, into the served-age histogram — only while something listens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RecordServedAge(CacheEntry entry, long now)
    {
        if (_servedAge.Enabled)
        {
            _telemetry.RecordServedAge(entry.Family, entry.AgeMs(now));
        }
    }

    /// <summary>
    /// The same at the exact clock, for the slow paths: misses (a computed value is a few milliseconds old, one from L2 may be
    /// older) and stale serves (fail-safe, soft timeout, throttle), where staleness is largest.
    /// </summary>
    private void RecordServedAge(CacheEntry entry)
    {
        if (_servedAge.Enabled)
        {
            RecordServedAge(entry, _clock.PreciseNowMs());
        }
    }

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
            var now = _clock.PreciseNowMs();
            var readLocal = options?.SkipLocalRead != true;
            if (readLocal && _l1.Peek(key, out var entry))
            {
                if (IsServable(entry, now))
                {
                    // Hits that miss the fast path (copy-on-read families) get early refresh too.
                    RecordServed(entry, now, state, factory, options);
                    return new ValueTask<T>(ReadValue<T>(entry));
                }

                // Fail-safe throttle: the factory failed recently; keep serving the last value instead of hammering the source.
                if (entry.ThrottleUntilMs > now && now < entry.RetainUntilMs && entry.IsValid(_tags.ClearVersion))
                {
                    family.Stats.StaleServed.Increment();
                    RecordServedAge(entry);
                    return new ValueTask<T>(ReadValue<T>(entry));
                }
            }
            else if (readLocal)
            {
                _l1.RecordMiss(key);
            }

            // Never join a flight a caller starting now may not see (invalidated or abandoned since it began): start a new one.
            Flight flight;
            bool owner;
            while (true)
            {
                var clear = _tags.ClearVersion;
                (flight, owner) = _flights.JoinOrStart(key, static (k, c) => new Flight(k, c, owned: true), clear);
                if (owner || flight.TryAddWaiter())
                {
                    break;
                }
            }

            if (family.Policy.SoftTimeout is { } soft)
            {
                return AwaitWithSoftTimeoutAsync(flight, owner, soft, family, state, factory, options, cancellationToken);
            }

            StartOrJoin(flight, owner, onPool: false, family, state, factory, options);
            return AwaitFlightAsync<T>(flight, family, softDeadline: null, cancellationToken);
        }
        catch (Exception ex)
        {
            return ex is OperationCanceledException { CancellationToken.IsCancellationRequested: true } canceled
                ? ValueTask.FromCanceled<T>(canceled.CancellationToken)
                : ValueTask.FromException<T>(ex);
        }
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
                    family.Stats.StaleServed.Increment();
                    RecordServedAge(stale);
                    Log.SoftTimeoutServedStale(_logger, flight.Key, family.Name);
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
                family.Stats.Misses.Increment(); // failed or cancelled: still a request that missed
                family.Stats.FailedReads.Increment();
                throw;
            }

            return ReadResult<T>(result, family);
        }
        finally
        {
            flight.RemoveWaiter();
        }
    }

    /// <summary>
    /// The last value, if fail-safe allows one this old. With <paramref name="confirmedOnly"/> (nothing failed: a soft timeout,
    /// or another node computing) it must also be current as any read's (fetched or confirmed within MaxStaleness): only a
    /// failed factory may serve past the staleness bound, which is what declaring FailSafe means.
    /// </summary>
    private CacheEntry? StaleCandidate(string key, FamilyState family, bool confirmedOnly = false)
    {
        if (family.FailSafeMaxAgeMs < 0 || !_l1.Peek(key, out var entry) || !entry.IsValid(_tags.ClearVersion))
        {
            return null;
        }

        var now = _clock.PreciseNowMs();
        return entry.AgeMs(now) <= family.FailSafeMaxAgeMs && (!confirmedOnly || IsCurrent(entry, now)) ? entry : null;
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

        var clear = _tags.ClearVersion;
        var (flight, owner) = _flights.JoinOrStart(entry.Key, static (k, c) =>
        {
            var background = new Flight(k, c);
            background.MarkBackground();
            return background;
        }, clear);
        if (!owner)
        {
            return false;
        }

        entry.Family.Stats.EarlyRefreshes.Increment();

        // On the thread pool: the factory may do synchronous work before its first await, and the caller of this hit
        // must get the current value at once, not after the refresh.
        RunFlightOnPool(flight, entry.Family, state, factory, options);
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
            family.Stats.StaleServed.Increment();
        }
        else
        {
            family.Stats.Misses.Increment();
            (result.FromShared ? family.Stats.L2Hits : family.Stats.Computed).Increment();
        }

        if (result.Entry is not { } e)
        {
            return CastValue<T>(result.Value, "");
        }

        RecordServedAge(e);
        return ReadValue<T>(e);
    }

    /// <summary>The entry's value as a <typeparamref name="T"/>: the shared object, or a private copy for copy-on-read families.</summary>
    private T ReadValue<T>(CacheEntry entry)
    {
        if (entry.Value is SerializedValue serialized)
        {
            return SerializerGuard.Deserialize<T>(_serializer, entry.Key, serialized.Payload);
        }

        return CastValue<T>(entry.Value, entry.Key);
    }

    /// <summary>
    /// The hot path's type test. For reference types only an exact type match: in code shared by all reference types,
    /// <c>is T</c> is a cast-helper call on every hit, while comparing the entry's recorded type with typeof(T) is one
    /// compare, and does not touch the value object.
    /// Subtypes, interfaces and null go to <see cref="TryCast{T}"/> on the warm path. (A copy-on-read entry holds an
    /// internal <see cref="SerializedValue"/>, which no caller's T can be exactly.) Value types are cheap to test anyway.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsExactly<T>(CacheEntry entry) => typeof(T).IsValueType
        ? entry.Value is T
        : entry.ValueTypeHandle == RuntimeTypeHandle.ToIntPtr(typeof(T).TypeHandle);

    /// <summary>The value of an entry <see cref="IsExactly{T}"/> accepted: unboxed, or the reference reinterpreted (no cast helper).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T ExactValue<T>(CacheEntry entry) => typeof(T).IsValueType
        ? (T)entry.Value!
        : Unsafe.As<object?, T>(ref Unsafe.AsRef(in entry.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryCast<T>(CacheEntry entry, out T value)
    {
        if (entry.Value is T typed)
        {
            value = typed;
            return true;
        }

        value = default!;
        return entry.Value is null && default(T) is null;
    }

    private static T CastValue<T>(object? value, string key) => value switch
    {
        T typed => typed,
        null when default(T) is null => default!,
        _ => throw new InvalidCastException($"Key '{UndeclaredFamilyException.Truncate(key)}' holds a {value?.GetType().ToString() ?? "null"}, which is not a {typeof(T)}. Use one type per key."),
    };
}
