using Coherent.Redis.Tests.Infrastructure;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.Redis.Tests;

/// <summary>
/// HybridCache's L2 is the container's <c>IDistributedCache</c>; switching to Coherent by one line must keep it. Run on
/// Microsoft's implementation (the control) and on the adapter, each instance its own container, as separate processes.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class HybridDistributedCacheConformanceTests(SharedRedis redis)
{
    public static TheoryData<string> Implementations => ["Microsoft", "Coherent"];

    private static ServiceProvider Instance(string impl, string endpoint, string instanceName)
    {
        var services = new ServiceCollection();
        services.AddStackExchangeRedisCache(o => { o.Configuration = endpoint; o.InstanceName = instanceName; });
        services.AddHybridCache();
        if (impl == "Coherent")
        {
            services.AddCoherentHybridCache();
        }

        return services.BuildServiceProvider();
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_registered_distributed_cache_carries_values_between_instances_and_removals_reach_it(string impl)
    {
        var server = redis.RequireAny();
        var ct = TestContext.Current.CancellationToken;
        var name = "hy" + Guid.NewGuid().ToString("N")[..8] + ":";
        await using var a = Instance(impl, server.Endpoint, name);
        await using var b = Instance(impl, server.Endpoint, name);
        var cacheA = a.GetRequiredService<HybridCache>();
        var cacheB = b.GetRequiredService<HybridCache>();

        Assert.Equal("from-a", await cacheA.GetOrCreateAsync("order:1", _ => ValueTask.FromResult("from-a"), cancellationToken: ct));
        // Microsoft's HybridCache writes its L2 after returning: B probes, writing nothing, until the value is there.
        var probe = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCache | HybridCacheEntryFlags.DisableDistributedCacheWrite };
        await Eventually.TrueAsync(async () => await cacheB.GetOrCreateAsync("order:1", _ => ValueTask.FromResult("probe"), probe, cancellationToken: ct) == "from-a",
            TimeSpan.FromSeconds(5), "A's value reached the distributed cache");
        Assert.Equal("from-a", await cacheB.GetOrCreateAsync("order:1", _ => ValueTask.FromResult("from-b"), cancellationToken: ct));

        await cacheA.RemoveAsync("order:1", ct);
        await using var c = Instance(impl, server.Endpoint, name); // a fresh instance reads only the distributed cache
        Assert.Equal("from-c", await c.GetRequiredService<HybridCache>().GetOrCreateAsync("order:1", _ => ValueTask.FromResult("from-c"), cancellationToken: ct));
        if (impl == "Coherent")
        {
            Assert.True(a.GetRequiredService<CoherentCache>().HasSharedTier);
        }
    }
}
