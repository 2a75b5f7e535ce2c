namespace Coherent;

/// <summary>
/// The value a call returns when its factory fails or times out and fail-safe has nothing to serve (the key was never
/// cached, or its last value is too old or was invalidated). It is returned, never cached.
/// </summary>
/// <typeparam name="T">The value type.</typeparam>
public readonly struct FailSafeDefault<T>
{
    /// <summary>A default of <paramref name="value"/>.</summary>
    public FailSafeDefault(T value) => Value = value;

    /// <summary>The value to return.</summary>
    public T Value { get; }
}

/// <summary>Fail-safe with a default value for keys that have nothing to fall back on.</summary>
public static class CoherentCacheFailSafeExtensions
{
    /// <summary>
    /// As <see cref="ICoherentCache.GetOrSetAsync{T}(string, Func{CancellationToken, ValueTask{T}}, CacheEntryOptions?, CancellationToken)"/>;
    /// when the factory (this call's, or the one it joined) fails or times out and no stale value is served, returns
    /// <paramref name="failSafeDefault"/> instead of throwing. Bad input, an undeclared family, a caller's cancellation and
    /// the cache's own errors still throw.
    /// </summary>
    public static async ValueTask<T> GetOrSetAsync<T>(this ICoherentCache cache, string key, Func<CancellationToken, ValueTask<T>> factory,
        FailSafeDefault<T> failSafeDefault, CacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cache);
        try
        {
            return await cache.GetOrSetAsync(key, factory, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsFactoryFailure(ex, cancellationToken))
        {
            return failSafeDefault.Value;
        }
    }

    /// <summary>A failure of the source (the factory threw, or ran past its hard timeout), not of the call or the cache.</summary>
    private static bool IsFactoryFailure(Exception ex, CancellationToken cancellationToken) => ex switch
    {
        FactoryTimeoutException => true,
        OperationCanceledException when cancellationToken.IsCancellationRequested => false,
        ArgumentException or CoherentException or ObjectDisposedException => false,
        _ => true,
    };
}
