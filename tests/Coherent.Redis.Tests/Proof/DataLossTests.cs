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

    private static string Prefix() => KeyPrefix.New("l");

    [Fact]
    public async Task Tag_invalidation_after_redis_lost_its_data_still_voids_entries_stored_before_it()
    {
        await using var server = await RedisProcess.StartForTestAsync();
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
        await using var server = await RedisProcess.StartForTestAsync();
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

    /// <summary>
    /// Issue 11, hole 6: the version floor of a bump is what the bumping node knows. A node that never saw the tag bumped
    /// an evicted version key to 1 while entries in L2 carried 2, so its invalidation voided nothing.
    /// </summary>
    [Fact]
    public async Task A_tag_invalidation_by_a_node_that_never_saw_the_tag_voids_entries_after_its_version_was_lost()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.InvalidateTagAsync("catalog", ct);
        await a.Cache.InvalidateTagAsync("catalog", ct);
        Assert.Equal("old", await a.Cache.GetOrSetAsync("item:e", _ => ValueTask.FromResult("old"), Tagged, ct)); // stamped with the tag's version

        await using var admin = await server.ConnectAsync();
        Assert.True(await admin.GetDatabase().KeyDeleteAsync(a.Tier.Keys.Tag("catalog")), "the tag's version key was not there to evict");

        await using var c = await Node.StartAsync(server.Endpoint, prefix); // never saw the tag
        await c.Cache.InvalidateTagAsync("catalog", ct);

        await using var d = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal("new", await d.Cache.GetOrSetAsync("item:e", _ => ValueTask.FromResult("new"), Tagged, ct));
    }

    /// <summary>
    /// Issue 11, hole 6: the epoch fence compared for equality, and a missing epoch read as 0. A fill that read no epoch,
    /// then an invalidation bumping it to 1, then the epoch key lost, found 0 again and stored its pre-invalidation value.
    /// </summary>
    [Fact]
    public async Task A_fill_computed_before_an_invalidation_is_never_stored_after_the_epoch_was_lost()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = Prefix();
        // A does not hear B's invalidation (as across a partition), so only the shared tier's fence can refuse its fill.
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.DropIncomingMessage = m => m.StartsWith("I|", StringComparison.Ordinal));
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;

        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var fill = a.Cache.GetOrSetAsync("item:aba", async token =>
        {
            started.SetResult(); // the source is read here, before the invalidation
            await release.Task.WaitAsync(token);
            return "old";
        }, cancellationToken: ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);

        await b.Cache.InvalidateAsync("item:aba", ct);
        await using var admin = await server.ConnectAsync();
        Assert.True(await admin.GetDatabase().KeyDeleteAsync(a.Tier.Keys.Epoch("item:aba")), "the invalidation left no epoch to lose");
        release.SetResult();
        Assert.Equal("old", await fill); // its caller asked before the invalidation: either value is fine for it

        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal("new", await c.Cache.GetOrSetAsync("item:aba", _ => ValueTask.FromResult("new"), cancellationToken: ct));
    }
}
