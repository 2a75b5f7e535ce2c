using Coherent.InMemory;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>
/// Fail-safe that survives a restart (issue 15, part 3): the last good value of a fail-safe family stays in the shared
/// tier for FailSafeMaxAge past its Ttl, so a node with an empty L1 (just started, or scaled out) still has a value to serve
/// when the factory fails — and never one that was invalidated.
/// </summary>
public sealed class SharedFailSafeTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan FailSafeMaxAge = TimeSpan.FromHours(1);

    private static CoherentCache Node(FakeTimeProvider time, InMemorySharedTierHub hub, string name) =>
        new CoherentCacheBuilder().WithTimeProvider(time).WithName(name)
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0).NoEarlyRefresh().FailSafe(FailSafeMaxAge))
            .Define("plain", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0).NoEarlyRefresh())
            .WithSharedTier(hub.Node())
            .Build();

    private static ValueTask<string> Value(string value) => ValueTask.FromResult(value);

    private static ValueTask<string> Failing(CancellationToken _) => throw new InvalidOperationException("the source is down");

    [Fact]
    public async Task A_node_with_an_empty_L1_serves_the_shared_tiers_expired_value_when_its_factory_fails()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using (var first = Node(time, hub, "first"))
        {
            Assert.Equal("v1", await first.GetOrSetAsync("price:1", _ => Value("v1"), cancellationToken: T.Ct));
        }

        time.Advance(Ttl + TimeSpan.FromMinutes(10)); // expired, well inside FailSafeMaxAge
        await using var restarted = Node(time, hub, "restarted");
        using var metrics = new Metrics(restarted.Name);
        Assert.Equal("v1", await restarted.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct));
        Assert.Equal(1, metrics.Counter("coherent.fail_safe.activations", "price"));

        // The stale value is served, not stored as fresh: once the source is back, the next call computes.
        time.Advance(TimeSpan.FromMinutes(1)); // past the fail-safe throttle
        Assert.Equal("v2", await restarted.GetOrSetAsync("price:1", _ => Value("v2"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task An_invalidated_value_is_never_served_by_fail_safe_on_another_node()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var writer = Node(time, hub, "writer");
        await writer.GetOrSetAsync("price:1", _ => Value("keyed"), cancellationToken: T.Ct);
        await writer.GetOrSetAsync("price:2", _ => Value("tagged"), new CacheEntryOptions { Tags = ["catalog"] }, T.Ct);
        await writer.GetOrSetAsync("price:3", _ => Value("cleared"), cancellationToken: T.Ct);
        await writer.InvalidateAsync("price:1", T.Ct);
        await writer.InvalidateTagAsync("catalog", T.Ct);

        time.Advance(Ttl + TimeSpan.FromMinutes(1));
        await using var other = Node(time, hub, "other");
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await other.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await other.GetOrSetAsync("price:2", Failing, new CacheEntryOptions { Tags = ["catalog"] }, T.Ct));

        await writer.ClearAsync(T.Ct);
        await using var third = Node(time, hub, "third");
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await third.GetOrSetAsync("price:3", Failing, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Past_FailSafeMaxAge_or_without_fail_safe_the_factorys_failure_reaches_the_caller()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using (var first = Node(time, hub, "first"))
        {
            await first.GetOrSetAsync("price:1", _ => Value("v1"), cancellationToken: T.Ct);
            await first.GetOrSetAsync("plain:1", _ => Value("p1"), cancellationToken: T.Ct);
        }

        time.Advance(Ttl + TimeSpan.FromMinutes(1));
        await using var second = Node(time, hub, "second");
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await second.GetOrSetAsync("plain:1", Failing, cancellationToken: T.Ct));

        time.Advance(FailSafeMaxAge);
        await using var third = Node(time, hub, "third");
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await third.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task The_policy_report_shows_how_long_the_shared_tier_keeps_a_fail_safe_family()
    {
        var time = T.Clock();
        await using var node = Node(time, new InMemorySharedTierHub(), "report");
        var notes = node.DescribePolicies().Notes;
        Assert.Contains(notes, n => n.StartsWith("price: kept in the shared tier up to 1h after it was computed, not 1m", StringComparison.Ordinal));
        Assert.DoesNotContain(notes, n => n.StartsWith("plain:", StringComparison.Ordinal));
    }
}
