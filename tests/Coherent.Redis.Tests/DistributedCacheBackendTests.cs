using Coherent.Redis.Tests.Infrastructure;
using Microsoft.Extensions.Caching.StackExchangeRedis;

namespace Coherent.Redis.Tests;

/// <summary>
/// <c>WithDistributedCache</c> on a real server through Microsoft's own Redis <c>IDistributedCache</c> (what a HybridCache
/// user has registered today): two nodes share entries, tag invalidations and clears, with the bounds of a storage-only tier.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class DistributedCacheBackendTests(SharedRedis redis)
{
    [Fact]
    public async Task Two_nodes_on_microsofts_redis_cache_share_entries_tags_and_clears()
    {
        var server = redis.RequireAny();
        var ct = TestContext.Current.CancellationToken;
        var instance = "dc" + Guid.NewGuid().ToString("N")[..8] + ":";
        using var store = new RedisCache(new RedisCacheOptions { Configuration = server.Endpoint, InstanceName = instance });
        CoherentCache Node() => new CoherentCacheBuilder()
            .Define("item", p => p.MaxStaleness(TimeSpan.FromMinutes(1)).Ttl(TimeSpan.FromMinutes(1)).NoEarlyRefresh())
            .WithDistributedCache(store)
            .Build();
        await using var a = Node();
        await using var b = Node();
        var tagged = new CacheEntryOptions { Tags = ["catalog"] };

        Assert.Equal("a1", await a.GetOrSetAsync("item:1", _ => ValueTask.FromResult("a1"), tagged, ct));
        Assert.Equal("a1", await b.GetOrSetAsync("item:1", _ => ValueTask.FromResult("b1"), tagged, ct)); // an L2 hit
        Assert.Equal("a2", await a.GetOrSetAsync("item:2", _ => ValueTask.FromResult("a2"), cancellationToken: ct));

        await b.InvalidateTagAsync("catalog", ct);
        await using var c = Node(); // a node with an empty L1 sees what the tag voided as a miss
        Assert.Equal("c1", await c.GetOrSetAsync("item:1", _ => ValueTask.FromResult("c1"), tagged, ct));
        Assert.Equal("a2", await c.GetOrSetAsync("item:2", _ => ValueTask.FromResult("c2"), cancellationToken: ct));

        await a.ClearAsync(ct);
        await using var d = Node();
        Assert.Equal("d2", await d.GetOrSetAsync("item:2", _ => ValueTask.FromResult("d2"), cancellationToken: ct));
        Assert.Equal(SharedTierState.Healthy, d.SharedTierState);
        Assert.DoesNotContain(d.DescribePolicies().Notes, n => n.StartsWith("item:", StringComparison.Ordinal)); // Ttl = MaxStaleness: the bound holds
    }
}
