using Coherent.Memcached.Store;
using Coherent.SharedTier;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>
/// Fail-safe that survives a restart, on Memcached: a fail-safe family's value stays in Memcached past its Ttl, up to its
/// FailSafeMaxAge, so a node with an empty L1 still has a value to serve when its factory fails — never one that was
/// invalidated — and while one node recomputes an expired kept value, the others get it at once. The nodes share a fake
/// clock (the engine's); Memcached's own clock only holds the items for their retention.
/// </summary>
public sealed class SharedFailSafeTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static McNode Node(string servers, string prefix, FakeTimeProvider time) =>
        McNode.Start(servers, prefix, o => o.VersionedFamilies.Add("vsafe"), b => b.WithTimeProvider(time)
            .Define("safe", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromHours(1), TimeSpan.FromSeconds(30)))
            .Define("vsafe", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromHours(1), TimeSpan.FromSeconds(30))));

    private static ValueTask<string> Failing(CancellationToken _) => throw new InvalidOperationException("the source is down");

    [Theory]
    [InlineData("safe:1")]
    [InlineData("vsafe:1")]
    public async Task A_node_with_an_empty_L1_serves_the_value_Memcached_kept_past_its_Ttl_when_its_factory_fails(string key)
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("fs");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using (var first = Node(server.Endpoint, prefix, time))
        {
            Assert.Equal("v1", await first.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("v1"), cancellationToken: Ct));
        }

        time.Advance(Ttl + TimeSpan.FromMinutes(10)); // expired on the engine's clock, well inside FailSafeMaxAge
        await using var restarted = Node(server.Endpoint, prefix, time);
        Assert.Equal("v1", await restarted.Cache.GetOrSetAsync(key, Failing, cancellationToken: Ct));
        Assert.Equal(1, restarted.Logs.Count(1003)); // served by fail-safe, counted as such

        // The failed recompute gives its lease back (after the caller is answered) with the value kept: not deleted, and no
        // longer marked stale, so another empty node still has it to serve and the next recompute can win it.
        await StoredBackAsync(restarted, key);
        await using var another = Node(server.Endpoint, prefix, time);
        Assert.Equal("v1", await another.Cache.GetOrSetAsync(key, Failing, cancellationToken: Ct));

        // Stale values are served, never stored as fresh: once the source is back, the next call computes (once the failed
        // recompute gave the key back: until then a caller gets the kept value at once, as while any node recomputes).
        await StoredBackAsync(another, key);
        await using var recovered = Node(server.Endpoint, prefix, time);
        Assert.Equal("v2", await recovered.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("v2"), cancellationToken: Ct));
    }

    private static Task StoredBackAsync(McNode node, string key) =>
        Eventually.TrueAsync(async () => await node.Store.ReadAsync(key, LeaseOptions.None, Ct) is { IsStale: false, Payload: not null, Outcome: ReadOutcome.Hit },
            TimeSpan.FromSeconds(5), "the kept value was not stored back when the lease was released");

    [Fact]
    public async Task An_invalidated_kept_value_is_never_served_by_fail_safe_on_another_node()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("fs");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var tagged = new CacheEntryOptions { Tags = ["catalog"] };
        await using var writer = Node(server.Endpoint, prefix, time);
        await writer.Cache.GetOrSetAsync("safe:keyed", _ => ValueTask.FromResult("keyed"), cancellationToken: Ct);
        await writer.Cache.GetOrSetAsync("vsafe:keyed", _ => ValueTask.FromResult("keyed"), cancellationToken: Ct);
        await writer.Cache.GetOrSetAsync("safe:tagged", _ => ValueTask.FromResult("tagged"), tagged, Ct);
        await writer.Cache.GetOrSetAsync("safe:cleared", _ => ValueTask.FromResult("cleared"), cancellationToken: Ct);
        await writer.Cache.InvalidateAsync("safe:keyed", Ct);
        await writer.Cache.InvalidateAsync("vsafe:keyed", Ct);
        await writer.Cache.InvalidateTagAsync("catalog", Ct);

        time.Advance(Ttl + TimeSpan.FromMinutes(1));
        await using var other = Node(server.Endpoint, prefix, time);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await other.Cache.GetOrSetAsync("safe:keyed", Failing, cancellationToken: Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await other.Cache.GetOrSetAsync("vsafe:keyed", Failing, cancellationToken: Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await other.Cache.GetOrSetAsync("safe:tagged", Failing, tagged, Ct));

        await writer.Cache.ClearAsync(Ct);
        await using var third = Node(server.Endpoint, prefix, time);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await third.Cache.GetOrSetAsync("safe:cleared", Failing, cancellationToken: Ct));
        Assert.Equal(0, other.Logs.Count(1003) + third.Logs.Count(1003));
    }

    [Theory]
    [InlineData("safe:herd")]
    [InlineData("vsafe:herd")]
    public async Task While_one_node_recomputes_an_expired_kept_value_a_caller_on_another_node_gets_it_at_once(string key)
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("fs");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using (var writer = Node(server.Endpoint, prefix, time))
        {
            await writer.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("v1"), cancellationToken: Ct);
        }

        time.Advance(Ttl + TimeSpan.FromMinutes(1));
        await using var a = Node(server.Endpoint, prefix, time);
        await using var b = Node(server.Endpoint, prefix, time);
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var winner = a.Cache.GetOrSetAsync(key, async _ => { started.SetResult(); await release.Task; return "v2"; }, cancellationToken: Ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        var marked = await b.Store.ReadAsync(key, LeaseOptions.None, Ct);
        Assert.True(marked.IsStale && marked.Outcome == ReadOutcome.HeldByOther, $"the kept value is not held by A's recompute: {marked}");

        // B's L1 is empty and A holds the lease: B gets the kept value at once, neither waiting nor computing.
        var bRuns = 0;
        var served = await b.Cache.GetOrSetAsync(key, _ => { Interlocked.Increment(ref bRuns); return ValueTask.FromResult("b-computed"); }, cancellationToken: Ct)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("v1", served);
        Assert.Equal(0, bRuns);

        release.SetResult();
        Assert.Equal("v2", await winner);
        await using var c = Node(server.Endpoint, prefix, time);
        Assert.Equal("v2", await c.Cache.GetOrSetAsync(key, Failing, cancellationToken: Ct)); // the recompute landed, as a fresh value
        Assert.Equal(0, c.Logs.Count(1003));
    }

    [Fact]
    public async Task A_lookup_never_returns_an_expired_kept_value()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("fs");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var writer = Node(server.Endpoint, prefix, time);
        await writer.Cache.GetOrSetAsync("safe:look", _ => ValueTask.FromResult("v1"), cancellationToken: Ct);

        time.Advance(Ttl + TimeSpan.FromMinutes(1));
        await using var reader = Node(server.Endpoint, prefix, time);
        Assert.False((await reader.Cache.TryGetAsync<string>("safe:look", Ct)).Found); // kept for fail-safe only: no factory here to fail
        Assert.Equal("v1", await reader.Cache.GetOrSetAsync("safe:look", Failing, cancellationToken: Ct)); // and still kept
    }

    [Fact]
    public async Task A_node_that_wins_the_recompute_of_a_kept_value_and_dies_leaves_the_key_computable_after_the_lease()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("fs");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var writer = Node(server.Endpoint, prefix, time);
        await writer.Cache.GetOrSetAsync("safe:dies", _ => ValueTask.FromResult("v1"), cancellationToken: Ct);
        time.Advance(Ttl + TimeSpan.FromMinutes(1));
        var key = new SharedTierKey("safe:dies", "safe");

        // The tier's read marks the kept value stale and wins it; the node then never asks for the lease nor releases it.
        await using var dying = Node(server.Endpoint, prefix, time);
        var won = await dying.Tier.ReadAsync(key, Ct);
        Assert.NotNull(won.Stale);
        await using var other = Node(server.Endpoint, prefix, time);
        Assert.Equal(ReadOutcome.HeldByOther, (await other.Store.ReadAsync("safe:dies", LeaseOptions.None, Ct)).Outcome);

        // The mark lives the placeholder's TTL (3 s on Memcached's clock, which ticks in whole seconds): then another node wins.
        Assert.True(await Eventually.WithinAsync(async () => (await other.Tier.ReadAsync(key, Ct)) is { Status: SharedTierReadStatus.Miss } read
            && (await other.Tier.TryAcquireLeaseAsync("safe:dies", TimeSpan.FromSeconds(1), Ct)) is not null, TimeSpan.FromSeconds(6), pollMs: 200),
            "the dead winner's mark never expired");
    }

    [Fact]
    public async Task Memcached_keeps_a_fail_safe_familys_item_until_its_fail_safe_age_and_any_other_only_until_its_Ttl()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("fs");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var writer = McNode.Start(server.Endpoint, prefix, build: b => b.WithTimeProvider(time)
            .Define("safe", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromHours(1), TimeSpan.FromSeconds(30)))
            .Define("plain", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0).NoEarlyRefresh()));
        await writer.Cache.GetOrSetAsync("safe:ttl", _ => ValueTask.FromResult("s"), cancellationToken: Ct);
        await writer.Cache.GetOrSetAsync("plain:ttl", _ => ValueTask.FromResult("p"), cancellationToken: Ct);

        Assert.InRange((await writer.Store.ReadAsync("safe:ttl", LeaseOptions.None, Ct)).RemainingTtlSeconds ?? -1, 3500, 3602);
        Assert.InRange((await writer.Store.ReadAsync("plain:ttl", LeaseOptions.None, Ct)).RemainingTtlSeconds ?? -1, 55, 62);

        // Memcached's clock has not moved, the engine's has: whatever Memcached still holds, the engine's clock decides.
        time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1));
        await using var reader = McNode.Start(server.Endpoint, prefix, build: b => b.WithTimeProvider(time)
            .Define("safe", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromHours(1), TimeSpan.FromSeconds(30)))
            .Define("plain", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0).NoEarlyRefresh()));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await reader.Cache.GetOrSetAsync("safe:ttl", Failing, cancellationToken: Ct)); // past FailSafeMaxAge
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await reader.Cache.GetOrSetAsync("plain:ttl", Failing, cancellationToken: Ct)); // no fail-safe
        Assert.Equal(0, reader.Logs.Count(1003));
    }

    [Fact]
    public async Task An_early_refresh_still_wins_on_a_value_kept_longer_than_30_days()
    {
        // Past 30 days Memcached takes a TTL as an absolute time, and a recache threshold of 30 days never wins on such an item.
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var node = McNode.Start(server.Endpoint, KeyPrefix.New("fs"), build: b => b
            .Define("long", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).FailSafe(TimeSpan.FromDays(60), TimeSpan.FromSeconds(30))));
        await node.Cache.GetOrSetAsync("long:1", _ => ValueTask.FromResult("v1"), cancellationToken: Ct);
        Assert.True((await node.Store.ReadAsync("long:1", LeaseOptions.None, Ct)).RemainingTtlSeconds > TimeSpan.FromDays(59).TotalSeconds);
        Assert.True((await node.Tier.ReadAsync(new SharedTierKey("long:1", "long"), Ct)).Found);

        var refresh = await node.Tier.TryAcquireLeaseAsync("long:1", TimeSpan.FromSeconds(1), Ct);
        Assert.NotNull(refresh);
        await node.Tier.ReleaseLeaseAsync(refresh, Ct);
    }
}
