using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

/// <summary>Tags, clear and versioned families across nodes.</summary>
[Collection(RedisCollection.Name)]
public sealed class FleetInvalidationTests(SharedRedis redis)
{
    private static readonly CacheEntryOptions Tagged = new() { Tags = ["catalog"] };

    private static string Prefix() => KeyPrefix.New("f");

    [Fact]
    public async Task Tag_invalidation_reaches_other_nodes_and_older_L2_entries_become_misses()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:t1", source.ReadAsync, Tagged, ct));
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:t1", source.ReadAsync, Tagged, ct));
        Assert.Equal(1, source.Runs);

        source.Bump();
        await a.Cache.InvalidateTagAsync("catalog", ct);

        // B's L1 copy is void once the message lands; the L2 copy predates the tag's version: a miss everywhere.
        await Eventually.TrueAsync(async () => await b.Cache.GetOrSetAsync("item:t1", source.ReadAsync, Tagged, ct) == 2, TimeSpan.FromSeconds(2), "B kept the tagged value");
        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal(2, await c.Cache.GetOrSetAsync("item:t1", source.ReadAsync, Tagged, ct));
    }

    [Fact]
    public async Task Clear_reaches_other_nodes_and_voids_L2()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        for (var i = 0; i < 10; i++)
        {
            await b.Cache.GetOrSetAsync("item:c" + i, source.ReadAsync, cancellationToken: ct);
        }

        source.Bump();
        await a.Cache.ClearAsync(ct);
        await Eventually.TrueAsync(() => b.Cache.LocalCount == 0, TimeSpan.FromSeconds(2), "B's L1 was not cleared");
        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal(2, await c.Cache.GetOrSetAsync("item:c3", source.ReadAsync, cancellationToken: ct));
    }

    [Fact]
    public async Task Versioned_write_moves_the_pointer_so_the_next_read_is_a_hit_and_the_old_version_expires()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => { o.VersionedFamilies.Add("product"); o.OldVersionGrace = TimeSpan.FromSeconds(3); });
        await using var b = await Node.StartAsync(server.Endpoint, prefix, o => o.VersionedFamilies.Add("product"));
        var ct = TestContext.Current.CancellationToken;
        var runs = 0;
        ValueTask<string> Factory(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            return ValueTask.FromResult("computed");
        }

        await a.Cache.SetAsync("product:42", "v1", cancellationToken: ct);
        Assert.Equal("v1", await b.Cache.GetOrSetAsync("product:42", Factory, cancellationToken: ct));
        await a.Cache.SetAsync("product:42", "v2", cancellationToken: ct);
        await Eventually.TrueAsync(() => !b.HasLocal("product:42"), TimeSpan.FromSeconds(2), "B kept v1");
        Assert.Equal("v2", await b.Cache.GetOrSetAsync("product:42", Factory, cancellationToken: ct));
        Assert.Equal(0, runs); // every read after a write was a hit

        var db = (await server.ConnectAsync()).GetDatabase();
        var keys = a.Tier.Keys;
        var current = (long)await db.StringGetAsync(keys.Pointer("product:42"));
        var oldTtl = await db.KeyTimeToLiveAsync(keys.VersionBase("product:42") + (current - 1));
        Assert.NotNull(oldTtl);
        Assert.True(oldTtl <= TimeSpan.FromSeconds(3), $"old version lives {oldTtl}");
        Assert.True(await db.KeyTimeToLiveAsync(keys.VersionBase("product:42") + current) > TimeSpan.FromMinutes(1));

        // A fill (miss, compute, fenced store) also lands in a version key.
        await a.Cache.InvalidateAsync("product:42", ct);
        await using var c = await Node.StartAsync(server.Endpoint, prefix, o => o.VersionedFamilies.Add("product"));
        Assert.Equal("computed", await c.Cache.GetOrSetAsync("product:42", Factory, cancellationToken: ct));
        await using var d = await Node.StartAsync(server.Endpoint, prefix, o => o.VersionedFamilies.Add("product"));
        Assert.Equal("computed", await d.Cache.GetOrSetAsync("product:42", _ => ValueTask.FromResult("again"), cancellationToken: ct));
    }
}
