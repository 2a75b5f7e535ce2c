using System.Runtime.CompilerServices;
using Coherent.Engine;
using Coherent.Local;
using Coherent.Policies;
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
            // The common hit (IsHotHit), kept small.
            var now = _clock.NowMs;
            if (IsHotHit<T>(entry, now))
            {
                RecordHit(entry, now);
                return new ValueTask<T>(ExactValue<T>(entry));
            }

            return GetOrSetWarm(entry, now, key, state, factory, options, cancellationToken);
        }

        return GetOrSetSlowAsync(key!, state, factory, options, cancellationToken);
    }

    /// <summary>
    /// The common hit's test, kept small (every field it reads sits in the entry's first two cache lines): not expired, before
    /// any early-refresh window (one comparison covers both), valid, confirmed, and stored as exactly a T.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsHotHit<T>(CacheEntry entry, long now) => now < entry.HotUntilMs && IsCurrent(entry, now) && IsExactly<T>(entry);

    /// <summary>
    /// The common hit for a key given as characters (HybridCache 11.0's span and interpolated keys), with no string made for
    /// it; false for anything else, which the caller takes the ordinary way with the key as a string.
    /// </summary>
    internal bool TryGetHot<T>(ReadOnlySpan<char> key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out T value)
    {
        if (_l1.Map.Find(key) is { } entry)
        {
            var now = _clock.NowMs;
            if (IsHotHit<T>(entry, now))
            {
                RecordHit(entry, now);
                value = ExactValue<T>(entry);
                return true;
            }
        }

        value = default;
        return false;
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

        if (_shared is not null && await _shared.LookupAsync(key, family, cancellationToken).ConfigureAwait(false) is { } shared)
        {
            // Not an L1 hit (RecordHit would count it through the entry's hit slots), and not stored: nothing fences a lookup.
            // Into the LFU, unsampled.
            var filled = EntryBuilder.FromLookup(key, family, shared, _clock.PreciseNowMs());
            _l1.RecordHit(filled, 0);
            RecordServedAge(filled, now);
            _events.L2Hit(family, entry: null);
            return new CacheLookup<T>(true, ReadValue<T>(filled));
        }

        _events.NotFound(family);
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

    /// <summary>The entry's value as a <typeparamref name="T"/>: the shared object, or a private copy for copy-on-read families.</summary>
    private T ReadValue<T>(CacheEntry entry)
    {
        if (entry.Value is SerializedValue serialized)
        {
            return _entries.Deserialize<T>(entry.Key, serialized.Payload);
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
