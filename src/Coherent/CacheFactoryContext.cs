namespace Coherent;

/// <summary>
/// What a factory given to <see cref="CoherentCache.GetOrSetAsync{T}(string, Func{CacheFactoryContext{T}, CancellationToken, ValueTask{T}}, CacheEntryOptions?, CancellationToken)"/>
/// knows and decides about the entry it computes: it sees the previous value (when one is cached and was not invalidated),
/// may shorten the entry's lifetime, or may say not to cache its result at all. Decisions are applied when the value is
/// stored, through the same fenced store as any fill; they never lengthen what the family's policy allows.
/// </summary>
/// <typeparam name="T">The value type.</typeparam>
public sealed class CacheFactoryContext<T>
{
    private readonly TimeSpan _familyTtl;
    private TimeSpan _ttl;

    internal CacheFactoryContext(string key, string family, TimeSpan ttl, TimeSpan familyTtl, bool hasPrevious, T? previous, DateTimeOffset? previousCreatedAt)
    {
        Key = key;
        Family = family;
        _ttl = ttl;
        _familyTtl = familyTtl;
        HasPrevious = hasPrevious;
        PreviousValue = previous;
        PreviousCreatedAt = previousCreatedAt;
    }

    /// <summary>The key being computed.</summary>
    public string Key { get; }

    /// <summary>The key's family.</summary>
    public string Family { get; }

    /// <summary>
    /// Whether a previous value is held locally — before its expiry (an early refresh), or after it for a fail-safe family,
    /// whose values are kept (and fetched from the shared tier's retention); never one that was invalidated. The factory can ask
    /// its source "changed since?" (an ETag kept in the value, a version) and return <see cref="PreviousValue"/> when not.
    /// A value kept that way is as fresh as the check that confirmed it: it is stored as a new fill.
    /// </summary>
    public bool HasPrevious { get; }

    /// <summary>The previous value, or default when <see cref="HasPrevious"/> is false.</summary>
    public T? PreviousValue { get; }

    /// <summary>When the previous value was computed (the engine's clock), or null.</summary>
    public DateTimeOffset? PreviousCreatedAt { get; }

    /// <summary>
    /// The entry's time to live, starting from the call's (or the family's). It may be shortened, never lengthened past
    /// the family's Ttl: a longer or non-positive value throws <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public TimeSpan Ttl
    {
        get => _ttl;
        set
        {
            if (value <= TimeSpan.Zero || value > _familyTtl)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value,
                    $"The Ttl of '{Key}' must be positive and at most its family '{Family}''s Ttl of {PolicyReport.FormatDuration(_familyTtl)}.");
            }

            _ttl = value;
            Changed = true;
        }
    }

    /// <summary>
    /// Do not cache this result (an error page, an empty search): it is returned to this caller and to every caller waiting
    /// on the same computation, and stored in neither tier (an older local copy is dropped).
    /// </summary>
    public void DoNotCache()
    {
        NotCached = true;
        Changed = true;
    }

    /// <summary>Whether <see cref="DoNotCache"/> was called.</summary>
    public bool NotCached { get; private set; }

    internal bool Changed { get; private set; }
}
