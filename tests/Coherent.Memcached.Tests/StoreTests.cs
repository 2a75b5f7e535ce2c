using Coherent.Memcached.Store;
using Coherent.Memcached.Tests.Infrastructure;
using static Coherent.Memcached.Tests.Infrastructure.Clients;

namespace Coherent.Memcached.Tests;

public sealed class StoreTests
{
    [Fact]
    public async Task A_version_counter_starts_at_the_time_seed_and_each_bump_adds_one()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server);
        var before = (ulong)(DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks / 10;

        var created = await store.ReadVersionAsync(VersionKey.Tag("red"));
        var reread = await store.ReadVersionAsync(VersionKey.Tag("red"));
        var bumped = await store.BumpVersionAsync(VersionKey.Tag("red"));

        Assert.InRange(created, before, before + 60_000_000);
        Assert.Equal(created, reread);
        Assert.Equal(created + 1, bumped);
        Assert.NotEqual(bumped, await store.BumpVersionAsync(VersionKey.Clear));
    }

    [Fact]
    public async Task A_counter_lost_with_a_restart_comes_back_above_every_value_it_had()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server);
        ulong last = 0;
        for (var i = 0; i < 100; i++)
        {
            last = await store.BumpVersionAsync(VersionKey.Clear);
        }

        await server.RestartAsync();
        var again = await RetryAsync(() => store.ReadVersionAsync(VersionKey.Clear).AsTask());

        Assert.True(again > last, $"{again} after {last}");
    }

    [Fact]
    public async Task An_entry_and_its_versions_on_three_servers_are_read_together_in_the_order_asked()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        await using var s3 = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync([s1, s2, s3]);
        var tags = Enumerable.Range(0, 12).Select(i => VersionKey.Tag("tag" + i)).Append(VersionKey.Clear).ToArray();
        var expected = new ulong[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            await store.BumpVersionAsync(tags[i]);
            expected[i] = await store.BumpVersionAsync(tags[i]);
        }

        await store.StoreAsync("price:1", Bytes("v"), TimeSpan.FromMinutes(1));

        var read = await store.ReadWithVersionsAsync("price:1", LeaseOptions.None, tags);

        Assert.Equal((ReadOutcome.Hit, "v"), (read.Entry.Outcome, Text(read.Entry.Payload)));
        Assert.Equal(expected, read.Versions);
        Assert.True(tags.Select(t => store.Cluster.Route(store.VersionWireKey(t))).Distinct().Count() > 1, "the tags should span servers");
    }

    [Fact]
    public async Task A_value_over_the_item_size_limit_is_refused_before_anything_is_sent()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server);
        var setsBefore = await server.StatAsync("cmd_set");

        var refused = await Assert.ThrowsAsync<PayloadTooLargeException>(() => store.StoreAsync("price:1", new byte[1024 * 1024], TimeSpan.FromMinutes(1)).AsTask());

        Assert.Equal(1024 * 1024, refused.Size);
        Assert.True(refused.Limit is > 1024 * 1000 and < 1024 * 1024, refused.Message);
        Assert.Equal(setsBefore, await server.StatAsync("cmd_set"));
        Assert.Throws<PayloadTooLargeException>(() => store.CheckSize("price:1", (int)refused.Limit + 1));
        store.CheckSize("price:1", (int)refused.Limit);
        Assert.Equal(StoreOutcome.Stored, await store.StoreAsync("price:1", new byte[refused.Limit], TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task The_item_size_limit_is_read_from_the_servers_settings_unless_configured()
    {
        await using var server = await MemcachedProcess.StartForTestAsync("-I", "2m");
        await using var fromServer = await StoreAsync(server);
        await using var configured = await StoreAsync(server, o => o.MaxItemBytes = 64 * 1024);

        Assert.Equal(2 * 1024 * 1024, fromServer.MaxItemBytes);
        Assert.Equal(64 * 1024, configured.MaxItemBytes);
        Assert.Equal(StoreOutcome.Stored, await fromServer.StoreAsync("price:1", new byte[1536 * 1024], TimeSpan.FromMinutes(1)));
        await Assert.ThrowsAsync<PayloadTooLargeException>(() => configured.StoreAsync("price:1", new byte[64 * 1024], TimeSpan.FromMinutes(1)).AsTask());
    }

    [Fact]
    public async Task A_ttl_over_thirty_days_is_sent_as_an_absolute_time_so_it_does_not_expire_at_once()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server);

        await store.StoreAsync("price:1", Bytes("v"), TimeSpan.FromDays(45));
        var read = await store.ReadAsync("price:1", LeaseOptions.None);

        Assert.Equal("v", Text(read.Payload));
        Assert.InRange(read.RemainingTtlSeconds!.Value, (long)TimeSpan.FromDays(44).TotalSeconds, (long)TimeSpan.FromDays(45).TotalSeconds + 5);
    }

    private static async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (MemcachedException) when (attempt < 5)
            {
                // the first call after a restart finds the old connection reset
            }
        }
    }
}
