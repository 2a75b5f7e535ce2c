using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

/// <summary>
/// Fail-safe that survives a restart, on Redis (issue 15, part 3): a fail-safe family's last good value stays in Redis
/// for FailSafeMaxAge past its Ttl, and a node whose L1 never held the key serves it when its factory fails — never a
/// value that was invalidated.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class SharedFailSafeRedisTests(SharedRedis redis)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMilliseconds(300);

    private static void Quotes(CoherentCacheBuilder b) =>
        b.Define("quote", p => p.MaxStaleness(TimeSpan.FromMilliseconds(300)).Ttl(Ttl).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromMinutes(1)));

    private static ValueTask<string> Failing(CancellationToken _) => throw new InvalidOperationException("the source is down");

    [Fact]
    public async Task A_node_that_never_held_the_key_serves_the_expired_value_Redis_kept_when_its_factory_fails()
    {
        var server = redis.Require();
        var prefix = KeyPrefix.New("fs");
        var ct = TestContext.Current.CancellationToken;
        await using var writer = await Node.StartAsync(server.Endpoint, prefix, build: Quotes);
        Assert.Equal("v1", await writer.Cache.GetOrSetAsync("quote:1", _ => ValueTask.FromResult("v1"), cancellationToken: ct));
        Assert.Equal("v2", await writer.Cache.GetOrSetAsync("quote:2", _ => ValueTask.FromResult("v2"), cancellationToken: ct));
        await writer.Cache.InvalidateAsync("quote:2", ct);

        // Past the Ttl: no longer a hit anywhere (TryGet never serves stale).
        await Eventually.TrueAsync(async () => !(await writer.Cache.TryGetAsync<string>("quote:1", ct)).Found, TimeSpan.FromSeconds(10), "the entry never expired");

        await using var fresh = await Node.StartAsync(server.Endpoint, prefix, build: Quotes);
        Assert.Equal("v1", await fresh.Cache.GetOrSetAsync("quote:1", Failing, cancellationToken: ct));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await fresh.Cache.GetOrSetAsync("quote:2", Failing, cancellationToken: ct));
    }
}
