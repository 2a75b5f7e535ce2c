using Microsoft.Extensions.Caching.Hybrid;

namespace Coherent.DependencyInjection;

/// <summary>
/// Microsoft's <see cref="HybridCache"/> API served by Coherent. Expiration maps to the entry TTL (capped by the family's),
/// tags to entry tags, <see cref="HybridCacheEntryFlags.DisableDistributedCache"/> (either half) to local-only,
/// <see cref="HybridCacheEntryFlags.DisableUnderlyingData"/> to a lookup that never runs the factory (default when absent),
/// and <c>RemoveByTagAsync("*")</c> to a clear. The local-cache flags and DisableCompression are not honoured: a value
/// served from L1 is still within its family's MaxStaleness, and Coherent does not compress.
/// </summary>
internal sealed class CoherentHybridCache(CoherentCache cache) : HybridCache
{
    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        options?.Flags is { } flags && (flags & HybridCacheEntryFlags.DisableUnderlyingData) != 0
            ? LookupOnlyAsync<T>(key, cancellationToken)
            : cache.GetOrSetAsync(key, state, factory, Map(options, tags), cancellationToken);

    private async ValueTask<T> LookupOnlyAsync<T>(string key, CancellationToken cancellationToken)
    {
        var found = await cache.TryGetAsync<T>(key, cancellationToken).ConfigureAwait(false);
        return found.Found ? found.Value! : default!;
    }

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
