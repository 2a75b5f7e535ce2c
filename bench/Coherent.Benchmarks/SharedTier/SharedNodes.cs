using System.Reflection;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Locking.Distributed.Redis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// One cache node per peer, each on its own StackExchange.Redis connection (as separate processes would be), all against
/// the same throwaway server. Every connection is made from the same plain configuration string, so every peer (and the
/// bare baseline) talks to Redis through the same client with the same settings.
/// </summary>
internal static class SharedNodes
{
    public static readonly TimeSpan Expiry = TimeSpan.FromHours(1);

    /// <summary>The StackExchange.Redis version actually loaded (the bench must run on 3.4.x).</summary>
    public static string RedisClientVersion =>
        typeof(ConnectionMultiplexer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "?";

    public static ConnectionMultiplexer Connect(string endpoint) => ConnectionMultiplexer.Connect(endpoint);

    /// <summary>
    /// Drops <paramref name="key"/> from the node's L1 for the next L2-hit operation, once the previous operation's flight has
    /// left the flight table. A caller wakes when its flight completes, which may be just before the flight's own last step
    /// (leaving the table); a caller starting in that window joins the completed flight and is served without reading Redis,
    /// which would flatter Coherent's L2-hit figure. The wait (a spin of a few hundred ns at most) is counted in the operation.
    /// </summary>
    public static void DropLocal(CoherentCache cache, string key)
    {
        var spinner = default(SpinWait);
        while (cache.Diagnostics.IsComputing(key))
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }

        cache.Diagnostics.DropLocal(key);
    }

    /// <summary>A Coherent node with its own connection (WithRedis(configuration) opens and owns it).</summary>
    public static CoherentCache Coherent(string endpoint, string prefix, Action<CoherentCacheBuilder>? build = null)
    {
        var builder = new CoherentCacheBuilder()
            .DefaultPolicy(p => p.MaxStaleness(Expiry).Ttl(Expiry).NoEarlyRefresh())
            .Define("product", p => p.MaxStaleness(Expiry).Ttl(Expiry).NoEarlyRefresh())
            .WithRedis(endpoint, o => o.KeyPrefix = prefix);
        build?.Invoke(builder);
        return builder.Build();
    }

    /// <summary>
    /// A FusionCache node: memory L1, Redis L2 (Microsoft's RedisCache) with the System.Text.Json serializer, the Redis
    /// backplane and, when <paramref name="locker"/>, the Redis distributed locker; all on one connection of its own.
    /// </summary>
    public static FusionNode Fusion(string endpoint, string cacheName, bool locker = true)
    {
        var connection = Connect(endpoint);
        Func<Task<IConnectionMultiplexer>> factory = () => Task.FromResult<IConnectionMultiplexer>(connection);
        var cache = new FusionCache(new FusionCacheOptions
        {
            CacheName = cacheName,
            DefaultEntryOptions = new FusionCacheEntryOptions { Duration = Expiry },
        });
        var distributed = new RedisCache(Options.Create(new RedisCacheOptions { ConnectionMultiplexerFactory = factory, InstanceName = cacheName + ":" }));
        cache.SetupDistributedCache(distributed, new FusionCacheSystemTextJsonSerializer(Product.Json));
        var backplane = new RedisBackplane(Options.Create(new RedisBackplaneOptions { ConnectionMultiplexerFactory = factory }));
        cache.SetupBackplane(backplane);
        RedisDistributedLocker? distributedLocker = null;
        if (locker)
        {
            distributedLocker = new RedisDistributedLocker(Options.Create(new RedisDistributedLockerOptions { ConnectionMultiplexerFactory = factory }));
            cache.SetupDistributedLocker(distributedLocker);
        }

        return new FusionNode(cache, distributed, distributedLocker, connection);
    }

    /// <summary>A HybridCache node: Microsoft's default in-memory L1 and Redis L2 (StackExchangeRedis), its own connection.</summary>
    public static HybridNode Hybrid(string endpoint, string instanceName, TimeSpan? localExpiration = null)
    {
        var connection = Connect(endpoint);
        var services = new ServiceCollection();
        services.AddStackExchangeRedisCache(o =>
        {
            o.ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(connection);
            o.InstanceName = instanceName + ":";
        });
        services.AddHybridCache(o =>
        {
            o.MaximumPayloadBytes = 1 << 20;
            o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Expiry, LocalCacheExpiration = localExpiration ?? Expiry };
        });
        var provider = services.BuildServiceProvider();
        return new HybridNode(provider.GetRequiredService<HybridCache>(), provider, connection);
    }
}

internal sealed class FusionNode(FusionCache cache, RedisCache distributed, RedisDistributedLocker? locker, ConnectionMultiplexer connection) : IAsyncDisposable
{
    public FusionCache Cache { get; } = cache;

    public async ValueTask DisposeAsync()
    {
        Cache.Dispose();
        distributed.Dispose();
        locker?.Dispose();
        await connection.DisposeAsync();
    }
}

internal sealed class HybridNode(HybridCache cache, ServiceProvider services, ConnectionMultiplexer connection) : IAsyncDisposable
{
    public HybridCache Cache { get; } = cache;

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        await connection.DisposeAsync();
    }
}
