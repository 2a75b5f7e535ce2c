using Coherent.Redis.Tests.Infrastructure;
using StackExchange.Redis;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Issue 11, hole 9: the retry queue. A write the server refuses for good (here NOPERM from an ACL that covers some keys
/// only) must not hold up the writes queued behind it; the queue is bounded (overflow collapses into one clear of the
/// whole cache, which voids everything and so loses nothing); disposal flushes once and logs what it could not deliver.
/// The ACL is changed while the node is connected: Redis applies a user's new permissions to its open connections at once.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RetryQueueTests(SharedRedis redis)
{
    private const string Password = "s3cret-password";

    private static string Prefix() => KeyPrefix.New("r");

    /// <summary>The documented least-privilege rule (<see cref="AclTests.Rule"/>) for <paramref name="prefix"/>, with only <paramref name="keys"/> allowed.</summary>
    private static object[] Rule(string prefix, params string[] keys) =>
        ["SETUSER", prefix, .. AclTests.Rule.Where(r => !r.StartsWith('~') && !r.StartsWith('&') && !r.StartsWith('>'))
            .Append(">" + Password).Append("&" + prefix + ":bus").Concat(keys.Select(k => "~" + k))];

    private static async Task<Node> StartAsUserAsync(RedisProcess server, string prefix, Action<CoherentRedisOptions>? redis = null)
    {
        var options = RedisAdmin.Options(server.Endpoint, user: prefix, password: Password);
        options.TieBreaker = "";
        options.ConfigurationChannel = "";
        return await Node.StartAsync(await ConnectionMultiplexer.ConnectAsync(options), prefix, redis);
    }

    [Fact]
    public async Task Writes_the_server_refuses_for_good_do_not_hold_up_the_writes_queued_behind_them()
    {
        var server = redis.Require();
        var prefix = Prefix();
        await server.ExecAsync("ACL", Rule(prefix, prefix + ":t:*", prefix + ":clear"));
        await using var a = await StartAsUserAsync(server, prefix);
        var ct = TestContext.Current.CancellationToken;
        var good = Enumerable.Range(1, 20).Select(i => "item:ok-" + i).ToList();
        string[] poisoned = ["item:bad-1", "item:bad-2", "item:bad-3"];

        // No item key is allowed yet: every invalidation is refused (NOPERM) and queued.
        foreach (var key in poisoned.Concat(good))
        {
            await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync(key, ct));
        }

        Assert.Equal(23, a.Cache.PendingInvalidations);
        await server.ExecAsync("ACL", "SETUSER", prefix, "~" + prefix + ":{item:ok-*");

        await Eventually.TrueAsync(() => a.Cache.PendingInvalidations == poisoned.Length, TimeSpan.FromSeconds(5),
            "the writes queued behind a refused one never landed");
        var db = (await server.ConnectAsync()).GetDatabase();
        foreach (var key in good)
        {
            Assert.True((long)await db.StringGetAsync(a.Tier.Keys.Epoch(key)) > 0, $"{key} was never bumped");
        }

        // The refused ones stay queued (never dropped), are logged, and a refusal is an answer: the breaker stays closed.
        Assert.False(a.Tier.Breaker.IsOpen);
        await Eventually.TrueAsync(() => a.Logs.Count(2016) >= poisoned.Length, TimeSpan.FromSeconds(2), "the refused retries were not logged");
        Assert.Contains(a.Logs.Events, e => e.EventId == 2016 && e.Message.Contains("item:bad-2", StringComparison.Ordinal) && e.Message.Contains("NOPERM", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_full_queue_collapses_into_one_clear_of_the_whole_cache_and_the_clear_lands()
    {
        var server = redis.Require();
        var prefix = Prefix();
        await server.ExecAsync("ACL", Rule(prefix, prefix + ":t:*"));
        await using var a = await StartAsUserAsync(server, prefix, o => o.MaxPendingInvalidations = 5);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal("b", await b.Cache.GetOrSetAsync("item:elsewhere", _ => ValueTask.FromResult("b"), cancellationToken: ct));

        for (var i = 1; i <= 5; i++)
        {
            await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("item:" + i, ct));
        }

        Assert.Equal(5, a.Cache.PendingInvalidations);
        var overflow = await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("item:6", ct));
        Assert.Contains("clear of the whole cache", overflow.Message, StringComparison.Ordinal);
        Assert.Equal(1, a.Cache.PendingInvalidations);
        Assert.Equal(1, a.Tier.QueueCollapses);
        Assert.Equal(1, a.Logs.Count(2014));
        await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("item:7", ct));
        Assert.Equal(2, a.Cache.PendingInvalidations);

        await server.ExecAsync("ACL", "SETUSER", prefix, "~" + prefix + ":*");
        await Eventually.TrueAsync(() => a.Cache.PendingInvalidations == 0, TimeSpan.FromSeconds(5), "the clear never landed");
        await Eventually.TrueAsync(() => !b.HasLocal("item:elsewhere"), TimeSpan.FromSeconds(2), "the clear did not reach the other node");
        var db = (await server.ConnectAsync()).GetDatabase();
        Assert.True((long)await db.StringGetAsync(a.Tier.Keys.ClearKey) >= 1);
    }

    [Fact]
    public async Task Disposal_flushes_the_queue_once_and_logs_every_write_it_could_not_deliver()
    {
        var server = redis.Require();
        var prefix = Prefix();
        await server.ExecAsync("ACL", Rule(prefix, prefix + ":t:*", prefix + ":clear"));
        var a = await StartAsUserAsync(server, prefix, o => o.RetryInterval = TimeSpan.FromMinutes(10));
        var ct = TestContext.Current.CancellationToken;
        await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("item:ok-1", ct));
        await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("item:bad-1", ct));
        await server.ExecAsync("ACL", "SETUSER", prefix, "~" + prefix + ":{item:ok-*");

        await a.DisposeAsync();

        var db = (await server.ConnectAsync()).GetDatabase();
        Assert.True((long)await db.StringGetAsync(a.Tier.Keys.Epoch("item:ok-1")) > 0, "the flush never bumped item:ok-1");
        var lost = Assert.Single(a.Logs.Events, e => e.EventId == 2015);
        Assert.Contains("key item:bad-1", lost.Message, StringComparison.Ordinal);
    }
}
