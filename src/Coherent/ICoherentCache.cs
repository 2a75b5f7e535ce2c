namespace Coherent;

/// <summary>
/// A two-level cache whose staleness is a declared contract: every key belongs to a family (the part before its first
/// <c>:</c>) with a <see cref="FamilyPolicy"/>. Values in the local tier are shared objects: treat them as immutable,
/// or declare the family with <see cref="FamilyPolicyBuilder.CopyOnRead"/>.
/// </summary>
public interface ICoherentCache
{
    /// <summary>
    /// Returns the cached value for <paramref name="key"/>, or runs <paramref name="factory"/> once for all concurrent callers
    /// of the key (on this node, and across the fleet with a shared tier), stores and returns its result.
    /// </summary>
    /// <exception cref="ArgumentException">The key is null, empty, too long or contains control characters.</exception>
    /// <exception cref="UndeclaredFamilyException">Strict mode and the key's family has no policy.</exception>
    ValueTask<T> GetOrSetAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>As <see cref="GetOrSetAsync{T}(string, Func{CancellationToken, ValueTask{T}}, CacheEntryOptions?, CancellationToken)"/>, passing <paramref name="state"/> to a static factory so no closure is allocated.</summary>
    ValueTask<T> GetOrSetAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Returns the values of <paramref name="keys"/>: cached ones from L1, then the shared tier (all keys' reads in one
    /// pipeline), and the rest from <paramref name="factory"/>, called once with the keys that need a value (keys another
    /// caller is computing join that computation). Each key is stored and fenced on its own: an invalidation of one key
    /// during the call keeps that key's value out of both tiers and leaves the others alone. A key the factory does not
    /// return is absent from the result and not cached; keys it returns that were not asked for are ignored (logged).
    /// Duplicate keys are read once.
    /// </summary>
    /// <exception cref="ArgumentException">A key is null or invalid (named by its position): nothing was read.</exception>
    /// <exception cref="UndeclaredFamilyException">Strict mode and a key's family has no policy: nothing was read.</exception>
    ValueTask<IReadOnlyDictionary<string, T>> GetOrSetManyAsync<T>(IEnumerable<string> keys,
        Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        CacheEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>The fresh values among <paramref name="keys"/> (local or shared tier), without computing anything; keys without one are absent.</summary>
    ValueTask<IReadOnlyDictionary<string, T>> TryGetManyAsync<T>(IEnumerable<string> keys, CancellationToken cancellationToken = default);

    /// <summary>Stores each value as its key's current value (write-through, as <see cref="SetAsync{T}"/>), every key checked first.</summary>
    ValueTask SetManyAsync<T>(IEnumerable<KeyValuePair<string, T>> items, CacheEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Removes each key everywhere (as <see cref="InvalidateAsync"/>), every key checked first.</summary>
    /// <exception cref="InvalidationFailedException">The shared tier could not be reached for a key; it is retried in the background.</exception>
    ValueTask InvalidateManyAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="GetOrSetAsync{T}(string, Func{CancellationToken, ValueTask{T}}, CacheEntryOptions?, CancellationToken)"/>,
    /// with a factory that sees the previous value and decides how its result is cached: a shorter Ttl, or not cached at all
    /// (<see cref="CacheFactoryContext{T}"/>).
    /// </summary>
    ValueTask<T> GetOrSetAsync<T>(string key, Func<CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Returns the cached value if there is a fresh one (local or shared tier), without computing anything.</summary>
    ValueTask<CacheLookup<T>> TryGetAsync<T>(string key, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="value"/> as the key's current value (write-through) and invalidates older copies everywhere.</summary>
    ValueTask SetAsync<T>(string key, T value, CacheEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes the key everywhere. A factory for the key that is running now will not store its (possibly old) result.
    /// </summary>
    /// <exception cref="InvalidationFailedException">The shared tier could not be reached; the invalidation is retried in the background.</exception>
    ValueTask InvalidateAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Invalidates every entry stored with <paramref name="tag"/>.</summary>
    ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken = default);

    /// <summary>Invalidates every entry of this cache.</summary>
    ValueTask ClearAsync(CancellationToken cancellationToken = default);

    /// <summary>The declared policies as a reviewable table.</summary>
    PolicyReport DescribePolicies();

    /// <summary>Per-family measurements and a verdict on whether caching helps.</summary>
    AdvisorReport Advise();
}

/// <summary>The result of <see cref="ICoherentCache.TryGetAsync{T}"/>.</summary>
/// <typeparam name="T">The value type.</typeparam>
/// <param name="Found">Whether a fresh value was found.</param>
/// <param name="Value">The value, or default when not found.</param>
public readonly record struct CacheLookup<T>(bool Found, T? Value);
