using Microsoft.Extensions.Caching.Hybrid;

namespace Coherent.DependencyInjection;

/// <summary>
/// Microsoft's <see cref="HybridCache"/> API served by Coherent. Expiration maps to the entry TTL (capped by the family's),
/// tags to entry tags, <see cref="HybridCacheEntryFlags.DisableDistributedCache"/> (either half) to local-only,
/// <see cref="HybridCacheEntryFlags.DisableLocalCacheRead"/> to a call that does not serve from L1,
/// <see cref="HybridCacheEntryFlags.DisableLocalCacheWrite"/> to a call that stores nothing in L1 (and drops an older L1
/// value), <see cref="HybridCacheEntryFlags.DisableUnderlyingData"/> to a lookup that never runs the factory (default when
/// absent), and <c>RemoveByTagAsync("*")</c> to a clear. DisableCompression is not honoured: Coherent does not compress.
/// </summary>
internal sealed class CoherentHybridCache(CoherentCache cache) : HybridCache
{
    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        Has(options, HybridCacheEntryFlags.DisableUnderlyingData)
            ? LookupOnlyAsync<T>(key, skipLocal: Has(options, HybridCacheEntryFlags.DisableLocalCacheRead), cancellationToken)
            : cache.GetOrSetAsync(key, state, factory, Map(options, tags), cancellationToken);

    private async ValueTask<T> LookupOnlyAsync<T>(string key, bool skipLocal, CancellationToken cancellationToken)
    {
        var found = await cache.TryGetAsync<T>(key, skipLocal, cancellationToken).ConfigureAwait(false);
        return found.Found ? found.Value! : default!;
    }

    private static bool Has(HybridCacheEntryOptions? options, HybridCacheEntryFlags flag) => options?.Flags is { } flags && (flags & flag) != 0;

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
            LocalOnly = Has(options, HybridCacheEntryFlags.DisableDistributedCache),
            SkipLocalRead = Has(options, HybridCacheEntryFlags.DisableLocalCacheRead),
            SkipLocalWrite = Has(options, HybridCacheEntryFlags.DisableLocalCacheWrite),
        };
    }
}
