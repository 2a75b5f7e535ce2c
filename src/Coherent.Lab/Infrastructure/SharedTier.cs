namespace Coherent.Lab.Infrastructure;

/// <summary>The lab's use of the shared tiers: the embedded Redis server, and attaching a node to Redis or to Memcached.</summary>
internal static class SharedTier
{
    public static Task<(IAsyncDisposable? Server, string? Endpoint, string Description)> StartEmbeddedAsync()
    {
        var garnet = EmbeddedGarnet.Start();
        return Task.FromResult<(IAsyncDisposable?, string?, string)>((garnet, garnet.ConnectionString, $"embedded Garnet at {garnet.ConnectionString}"));
    }

    /// <summary>Gives the node its own connection to the shared Redis; <paramref name="configure"/> adjusts the tier's options.</summary>
    public static void Attach(CoherentCacheBuilder builder, string endpoint, string keyPrefix, Action<CoherentRedisOptions>? configure = null) =>
        builder.WithRedis(endpoint, o =>
        {
            o.KeyPrefix = keyPrefix;
            configure?.Invoke(o);
        });

    /// <summary>Gives the node its own client of the Memcached servers (no bus: L1 copies live at most their max-staleness).</summary>
    public static void AttachMemcached(CoherentCacheBuilder builder, string servers, string keyPrefix) =>
        builder.WithMemcached(servers, o => o.KeyPrefix = keyPrefix);
}
