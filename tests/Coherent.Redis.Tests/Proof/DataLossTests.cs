using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Redis losing its data (restart without persistence, failover before replication, eviction) must not make a later tag
/// invalidation or clear void nothing. Found by the history proof: after a restart the tag version restarted at 1, below the
/// version the nodes knew, so entries stored after the restart with the old version survived the next tag invalidation
/// (served up to Ttl: 2.3 s past the invalidation in the run, bound 1 s).
/// </summary>
public sealed class DataLossTests
{
    private static readonly CacheEntryOptions Tagged = new() { Tags = ["catalog"] };

    private static string Prefix() => "l" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Tag_invalidation_after_redis_lost_its_data_still_voids_entries_stored_before_it()
    {
        await using var server = await FixtureServer.StartOwnAsync();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.InvalidateTagAsync("catalog", ct);
        await a.Cache.InvalidateTagAsync("catalog", ct); // both nodes now know version 2

        await server.RestartAsync(); // empty: the tag's version is gone
        await a.WaitForBusAsync();
        await b.WaitForBusAsync();
        await Eventually.TrueAsync(() => a.Cache.SharedTierState == SharedTierState.Healthy && b.Cache.SharedTierState == SharedTierState.Healthy, TimeSpan.FromSeconds(10), "nodes never recovered");
        Assert.Equal("old", await a.Cache.GetOrSetAsync("item:t", _ => ValueTask.FromResult("old"), Tagged, ct)); // stored in L2 with tag version 2

        await b.Cache.InvalidateTagAsync("catalog", ct);

        // A node that never saw the old versions (it reads the tag's version from Redis) must not get the old entry.
        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal("new", await c.Cache.GetOrSetAsync("item:t", _ => ValueTask.FromResult("new"), Tagged, ct));
        await Eventually.TrueAsync(async () => await a.Cache.GetOrSetAsync("item:t", _ => ValueTask.FromResult("new"), Tagged, ct) == "new", TimeSpan.FromSeconds(2), "A kept the old entry");
    }

    [Fact]
    public async Task Clear_after_redis_lost_its_data_still_voids_entries_stored_before_it()
    {
        await using var server = await FixtureServer.StartOwnAsync();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.ClearAsync(ct);
        await a.Cache.ClearAsync(ct);

        await server.RestartAsync();
        await a.WaitForBusAsync();
        await Eventually.TrueAsync(() => a.Cache.SharedTierState == SharedTierState.Healthy, TimeSpan.FromSeconds(10), "node never recovered");
        Assert.Equal("old", await a.Cache.GetOrSetAsync("item:c", _ => ValueTask.FromResult("old"), cancellationToken: ct));

        await a.Cache.ClearAsync(ct);

        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal("new", await c.Cache.GetOrSetAsync("item:c", _ => ValueTask.FromResult("new"), cancellationToken: ct));
    }
}
