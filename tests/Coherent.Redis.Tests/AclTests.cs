using Coherent.Redis.Tests.Infrastructure;
using StackExchange.Redis;

namespace Coherent.Redis.Tests;

/// <summary>The least-privilege ACL documented in docs/operations-redis.md is enough for every feature, and nothing more is needed.</summary>
public sealed class AclTests
{
    /// <summary>Exactly the rule given in docs/operations-redis.md (with the prefix "app").</summary>
    public static readonly string[] Rule =
    [
        "on", ">s3cret-password", "resetkeys", "~app:*", "resetchannels", "&app:bus",
        "-@all", "+eval", "+evalsha", "+get", "+set", "+del", "+exists", "+incr", "+pexpire", "+publish", "+hset", "+hgetall",
        "+script|load",
        "+subscribe", "+unsubscribe", "+ping", "+echo", "+info", "+client|setname", "+client|id", "+cluster|nodes", "+cluster|slots",
    ];

    [Fact]
    public async Task Every_feature_works_under_the_least_privilege_user()
    {
        if (!RedisProcess.Available)
        {
            MissingServer.Skip(RedisProcess.SkipReason!);
        }

        await using var server = await RedisProcess.StartNewAsync();
        await server.ExecAsync("ACL", ["SETUSER", "app", .. Rule]);
        var ct = TestContext.Current.CancellationToken;

        async Task<Node> StartAsync()
        {
            var options = RedisAdmin.Options(server.Endpoint, user: "app", password: "s3cret-password");
            options.TieBreaker = "";
            options.ConfigurationChannel = "";
            var connection = await ConnectionMultiplexer.ConnectAsync(options);
            return await Node.StartAsync(connection, "app");
        }

        await using var a = await StartAsync();
        await using var b = await StartAsync();
        var source = new Source();
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:1", source.ReadAsync, new CacheEntryOptions { Tags = ["t"] }, ct));
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:1", source.ReadAsync, new CacheEntryOptions { Tags = ["t"] }, ct));
        Assert.Equal(1, source.Runs); // L2 read and fenced store work

        source.Bump();
        await a.Cache.InvalidateAsync("item:1", ct);
        await Eventually.TrueAsync(() => !b.HasLocal("item:1"), TimeSpan.FromSeconds(2), "bus does not work under the ACL");
        await a.Cache.SetAsync("item:2", 5L, cancellationToken: ct);
        await a.Cache.InvalidateTagAsync("t", ct);
        await a.Cache.ClearAsync(ct);
        var failing = b.Cache.GetOrSetAsync<long>("item:3", _ => throw new InvalidOperationException("boom"), cancellationToken: ct);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await failing); // lease taken and released

        // Nothing the tier did was refused, and the user cannot touch other applications' keys.
        var denied = (RedisResult[])(await server.ExecAsync("ACL", "LOG"))!;
        var entries = denied.Select(d => string.Join(" ", ((RedisResult[])d!).Select(f => f.ToString()))).ToList();
        foreach (var entry in entries)
        {
            TestContext.Current.SendDiagnosticMessage("ACL LOG: " + entry);
        }

        // The client library's optional CONFIG GET (an admin command) is refused and it copes; nothing else is.
        var objects = denied.Select(d => ((RedisResult[])d!).Select(f => f.ToString()).ToArray()).Select(f => f[Array.IndexOf(f, "object") + 1]).Distinct().ToList();
        Assert.All(objects, o => Assert.Equal("config|get", o));
        Assert.Equal(0, a.Tier.Breaker.IsOpen ? 1 : 0);
        await Assert.ThrowsAsync<RedisServerException>(() => a.Connection.GetDatabase().StringGetAsync("other:key"));
    }
}
