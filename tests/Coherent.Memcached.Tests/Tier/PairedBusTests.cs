using Coherent.SharedTier;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>
/// Memcached paired with the Redis bus (<see cref="CoherentMemcachedOptions.InvalidationTransport"/>), on real servers: two
/// nodes on one memcached share one Redis channel. An item deleted behind the cache's back (straight from the store, never
/// announced) tells whether a node still serves its L1 copy (the old value) or reads Memcached (a miss: the factory runs).
/// </summary>
public sealed class PairedBusTests
{
    /// <summary>Far past every wait below: a change seen within them was carried by the bus, not by the bound.</summary>
    private static readonly TimeSpan LongStaleness = TimeSpan.FromSeconds(20);

    /// <summary>Six heartbeat intervals (50 ms in <see cref="McNode.StartPairedAsync"/>).</summary>
    private static readonly TimeSpan ShortStaleness = TimeSpan.FromMilliseconds(300);

    /// <summary>How long an announcement may take to reach the other node here: a tenth of <see cref="LongStaleness"/>.</summary>
    private static readonly TimeSpan AtOnce = TimeSpan.FromSeconds(2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static void Families(CoherentCacheBuilder b) => b
        .Define("long", p => p.MaxStaleness(LongStaleness).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh())
        .Define("short", p => p.MaxStaleness(ShortStaleness).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh());

    private static async Task<(McNode A, McNode B)> PairAsync(RedisProcess redis, MemcachedProcess server)
    {
        var prefix = KeyPrefix.New("mp");
        var a = await McNode.StartPairedAsync(server.Endpoint, prefix, redis, Families);
        var b = await McNode.StartPairedAsync(server.Endpoint, prefix, redis, Families);
        foreach (var node in new[] { a, b })
        {
            await Eventually.TrueAsync(() => node.Tier.Bus is { Suspect: false }, TimeSpan.FromSeconds(5), "the paired bus never confirmed the node");
        }

        return (a, b);
    }

    private static ValueTask<string> Get(McNode node, string key, string factoryValue, CacheEntryOptions? options = null) =>
        node.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult(factoryValue), options, Ct);

    [Fact]
    public async Task With_a_paired_bus_L1_copies_live_past_max_staleness_while_heartbeats_confirm_them()
    {
        await using var redis = await RedisProcess.StartForTestAsync();
        await using var server = await MemcachedProcess.StartForTestAsync();
        var (a, b) = await PairAsync(redis, server);
        await using var _a = a;
        await using var _b = b;
        Assert.Equal(SharedTierGuarantees.All | SharedTierGuarantees.AnnouncedAfterWrite, b.Tier.Guarantees);
        var notes = b.Cache.DescribePolicies().Notes;
        Assert.DoesNotContain(notes, n => n.Contains("No invalidation bus", StringComparison.Ordinal));
        // The announcement follows the write in a step of its own: the report says what that does to the bound.
        Assert.Contains(notes, n => n.Contains("if a writer dies between its write and the bus announcement", StringComparison.Ordinal));
        Assert.Equal((1, 0), (b.Logs.Count(4006), b.Logs.Count(4001)));

        Assert.Equal("old", await Get(b, "short:1", "old"));
        var fetched = b.Tier.Bus!.ConfirmedUpToMs;
        await b.Store.DeleteAsync("short:1", Ct); // not announced: only B's L1 holds the value now

        await Eventually.TrueAsync(() => b.Tier.Bus.ConfirmedUpToMs > fetched + 3 * (long)ShortStaleness.TotalMilliseconds, TimeSpan.FromSeconds(5),
            "heartbeats stopped confirming B's L1");
        Assert.Equal("old", await Get(b, "short:1", "factory")); // three max-stalenesses after its fetch, still served from L1
        Assert.Equal(SharedTierState.Healthy, b.Tier.State);
    }

    [Fact]
    public async Task With_a_paired_bus_an_invalidation_or_write_through_on_one_node_reaches_the_others_L1_at_once()
    {
        await using var redis = await RedisProcess.StartForTestAsync();
        await using var server = await MemcachedProcess.StartForTestAsync();
        var (a, b) = await PairAsync(redis, server);
        await using var _a = a;
        await using var _b = b;
        Assert.Equal("old", await Get(b, "long:1", "old"));
        Assert.Equal("old", await Get(b, "long:2", "old"));

        await a.Cache.InvalidateAsync("long:1", Ct);
        await a.Cache.SetAsync("long:2", "written", cancellationToken: Ct);

        await Eventually.TrueAsync(async () => await Get(b, "long:1", "new") == "new", AtOnce, "B kept an invalidated key in L1: the bus did not carry it");
        await Eventually.TrueAsync(async () => await Get(b, "long:2", "new") == "written", AtOnce, "B kept an overwritten key in L1: the bus did not carry it");
        Assert.True(b.Tier.Bus!.GapsDetected == 0, "a frame was lost on a healthy bus");
    }

    [Fact]
    public async Task With_a_paired_bus_a_tag_invalidation_and_a_clear_reach_the_others_L1_at_once()
    {
        await using var redis = await RedisProcess.StartForTestAsync();
        await using var server = await MemcachedProcess.StartForTestAsync();
        var (a, b) = await PairAsync(redis, server);
        await using var _a = a;
        await using var _b = b;
        var red = new CacheEntryOptions { Tags = ["red"] };
        Assert.Equal("old", await Get(b, "long:t", "old", red));
        Assert.Equal("old", await Get(b, "long:c", "old"));

        await a.Cache.InvalidateTagAsync("red", Ct);
        await Eventually.TrueAsync(async () => await Get(b, "long:t", "new", red) == "new", AtOnce, "B kept a tag-invalidated entry in L1");
        Assert.Equal("old", await Get(b, "long:c", "new")); // untagged: untouched by the tag

        await a.Cache.ClearAsync(Ct);
        await Eventually.TrueAsync(async () => await Get(b, "long:c", "new") == "new", AtOnce, "B kept an entry in L1 across a clear");
    }

    [Fact]
    public async Task When_the_paired_bus_drops_L1_falls_back_to_max_staleness_and_writes_still_land()
    {
        await using var redis = await RedisProcess.StartForTestAsync();
        await using var server = await MemcachedProcess.StartForTestAsync();
        var (a, b) = await PairAsync(redis, server);
        await using var _a = a;
        await using var _b = b;
        Assert.Equal("old", await Get(b, "short:1", "old"));
        await b.Store.DeleteAsync("short:1", Ct);

        redis.Kill();

        await Eventually.TrueAsync(async () => await Get(b, "short:1", "factory") == "factory", ShortStaleness + TimeSpan.FromSeconds(2),
            "B served its L1 copy past max-staleness with no bus confirming it");
        Assert.Equal(SharedTierState.Degraded, b.Tier.State);

        // The invalidation lands in Memcached; only its announcement fails (logged, never thrown).
        Assert.Equal("v1", await Get(a, "long:9", "v1"));
        await a.Cache.InvalidateAsync("long:9", Ct);
        Assert.True(a.Logs.Count(4007) >= 1, "the failed announcement was not logged");
        Assert.Equal("v2", await Get(b, "long:9", "v2")); // B never held it: it reads Memcached, where the key is gone
    }

    [Fact]
    public async Task An_invalidation_the_retry_queue_lands_later_is_announced_when_it_lands()
    {
        await using var redis = await RedisProcess.StartForTestAsync();
        await using var server = await MemcachedProcess.StartForTestAsync();
        var (a, b) = await PairAsync(redis, server);
        await using var _a = a;
        await using var _b = b;
        Assert.Equal("old", await Get(b, "long:r", "old"));

        server.Pause();
        try
        {
            await Assert.ThrowsAsync<InvalidationFailedException>(() => a.Cache.InvalidateAsync("long:r", Ct).AsTask());
            Assert.Equal("old", await Get(b, "long:r", "new")); // not landed, not announced: B's copy stands
        }
        finally
        {
            server.Resume();
        }

        await Eventually.TrueAsync(() => a.Tier.PendingInvalidations == 0, TimeSpan.FromSeconds(10), "the queued invalidation never landed");
        await Eventually.TrueAsync(async () => await Get(b, "long:r", "new") == "new", AtOnce, "the late landing was not announced: B kept its copy");
    }

    [Fact]
    public async Task Without_a_transport_L1_copies_live_at_most_max_staleness()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var b = McNode.Start(server.Endpoint, KeyPrefix.New("mp"), build: Families);
        Assert.Equal(SharedTierGuarantees.FencedStores | SharedTierGuarantees.FleetLeases, b.Tier.Guarantees);
        Assert.Null(b.Tier.Bus);
        Assert.Equal("old", await Get(b, "short:1", "old"));
        await b.Store.DeleteAsync("short:1", Ct);

        await Eventually.TrueAsync(async () => await Get(b, "short:1", "factory") == "factory", ShortStaleness + TimeSpan.FromSeconds(2),
            "B served its L1 copy past max-staleness without a bus");
    }

    [Fact]
    public async Task A_transport_given_to_two_caches_is_refused_with_every_other_problem_listed()
    {
        await using var redis = await RedisProcess.StartForTestAsync();
        await using var server = await MemcachedProcess.StartForTestAsync();
        using var connection = await redis.ConnectAsync();
        var transport = RedisInvalidation.CreateTransport(connection, "shared");
        await using var first = new CoherentCacheBuilder().WithMemcached(server.Endpoint, o => o.InvalidationTransport = transport).Build();

        var ex = Assert.Throws<CoherentConfigurationException>(() => new CoherentCacheBuilder()
            .WithMemcached(server.Endpoint, o =>
            {
                o.InvalidationTransport = transport;
                o.HeartbeatInterval = TimeSpan.Zero;
            }).Build());
        Assert.Contains(ex.Problems, p => p.Contains("InvalidationTransport is already used", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("HeartbeatInterval", StringComparison.Ordinal));

        // Released with its cache: a new cache may take it.
        await first.DisposeAsync();
        await using var second = new CoherentCacheBuilder().WithMemcached(server.Endpoint, o => o.InvalidationTransport = transport).Build();
        Assert.True(second.Diagnostics.SharedTier!.Guarantees.HasFlag(SharedTierGuarantees.InvalidationBus));
    }
}
