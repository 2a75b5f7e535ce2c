using Microsoft.Extensions.Caching.Hybrid;

namespace Coherent.DependencyInjection;

/// <summary>
/// Microsoft's <see cref="HybridCache"/> API served by Coherent. Expiration maps to the entry TTL (capped by the family's),
/// tags to entry tags, <see cref="HybridCacheEntryFlags.DisableDistributedCache"/> to local-only, and
/// <c>RemoveByTagAsync("*")</c> to a clear.
/// </summary>
internal sealed class CoherentHybridCache(CoherentCache cache) : HybridCache
{
    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        cache.GetOrSetAsync(key, state, factory, Map(options, tags), cancellationToken);

    public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        cache.SetAsync(key, value, Map(options, tags), cancellationToken);

    public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) =>
        cache.InvalidateAsync(key, cancellationToken);

    public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) =>
        tag == "*" ? cache.ClearAsync(cancellationToken) : cache.InvalidateTagAsync(tag, cancellationToken);

    private static CacheEntryOptions? Map(HybridCacheEntryOptions? options, IEnumerable<string>? tags)
    {
        if (options is null && tags is null)
        {
            return null;
        }

        return new CacheEntryOptions
        {
            Ttl = options?.Expiration,
            Tags = tags?.ToArray(),
            LocalOnly = options?.Flags is { } flags && (flags & HybridCacheEntryFlags.DisableDistributedCache) != 0,
        };
    }
}
