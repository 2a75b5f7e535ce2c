using Coherent.InMemory;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>
/// Tags the factory adds (issue 15, part 1). Their versions before the factory ran were never read, so a value is cached
/// only if no tag bump since the flight began (on this node, and in the fleet for the shared tier) can have been one of them.
/// </summary>
public sealed class FactoryContextTagTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(10);

    private static CoherentCache Node(FakeTimeProvider time, InMemorySharedTierHub hub, string name) =>
        new CoherentCacheBuilder().WithTimeProvider(time).WithName($"{name}-{Guid.NewGuid():N}")
            .Define("page", p => p.MaxStaleness(TimeSpan.FromMinutes(1)).Ttl(Ttl).Jitter(0).NoEarlyRefresh())
            .WithSharedTier(hub.Node())
            .Build();

    /// <summary>A factory held until the test releases it, that then adds the tag "t" and returns <paramref name="value"/>.</summary>
    private sealed class HeldFactory(string value)
    {
        public TaskCompletionSource Entered { get; } = T.Gate();

        public TaskCompletionSource Release { get; } = T.Gate();

        public async ValueTask<string> RunAsync(CacheFactoryContext<string> context, CancellationToken token)
        {
            Entered.TrySetResult();
            await Release.Task.WaitAsync(token);
            context.AddTags("t");
            return value;
        }
    }

    [Fact]
    public async Task A_tag_the_factory_adds_is_carried_and_its_invalidation_drops_the_value_on_every_node()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b");
        var first = await a.GetOrSetAsync<string>("page:1", (context, _) =>
        {
            Assert.Equal(["call"], context.Tags);
            context.AddTags("t", "call", "t"); // one already carried, one twice: each carried once
            Assert.Equal(["call", "t"], context.Tags);
            return ValueTask.FromResult("v1");
        }, new CacheEntryOptions { Tags = ["call"] }, T.Ct);
        Assert.Equal("v1", first);
        Assert.Equal("v1", await b.GetOrSetAsync("page:1", _ => ValueTask.FromResult("b's"), cancellationToken: T.Ct)); // from L2

        await b.InvalidateTagAsync("t", T.Ct);

        Assert.Equal("v2", await a.GetOrSetAsync("page:1", _ => ValueTask.FromResult("v2"), cancellationToken: T.Ct));
        await using var c = Node(time, hub, "c");
        Assert.Equal("v2", await c.GetOrSetAsync("page:1", _ => ValueTask.FromResult("c's"), cancellationToken: T.Ct));
    }

    /// <summary>
    /// The fence: without it the added tag is stamped with its version at store time — after the bump — and the value
    /// computed before the invalidation is served as current from L1 and from L2.
    /// </summary>
    [Theory]
    [InlineData("this node")]
    [InlineData("another node, its message delivered")]
    [InlineData("another node, its message not delivered yet")]
    public async Task A_tag_invalidated_while_the_factory_that_adds_it_runs_keeps_the_value_out_of_both_tiers(string invalidator)
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b");
        if (invalidator.EndsWith("not delivered yet", StringComparison.Ordinal))
        {
            // Fake time never advances in this test: a delayed frame stays in transit.
            hub.Frames = f => f.Kind == InMemoryFrameKind.Tag ? FrameFate.Delayed(TimeSpan.FromHours(1)) : FrameFate.Deliver;
        }

        var factory = new HeldFactory("old");
        var fill = a.GetOrSetAsync<string>("page:2", factory.RunAsync, cancellationToken: T.Ct).AsTask();
        await factory.Entered.Task.WaitAsync(T.Ct);
        await (invalidator == "this node" ? a : b).InvalidateTagAsync("t", T.Ct);
        factory.Release.SetResult();
        Assert.Equal("old", await fill); // its caller asked before the invalidation: either value is fine for it

        await using var c = Node(time, hub, "c"); // an empty L1: what L2 holds
        Assert.Equal("new", await c.GetOrSetAsync("page:2", _ => ValueTask.FromResult("new"), cancellationToken: T.Ct));
        if (!invalidator.EndsWith("not delivered yet", StringComparison.Ordinal))
        {
            // A node that has heard of the invalidation serves nothing from before it (one that has not is bounded by its bus).
            Assert.Equal("new", await a.GetOrSetAsync("page:2", _ => ValueTask.FromResult("new"), cancellationToken: T.Ct));
        }
    }

    [Fact]
    public async Task A_caller_arriving_after_a_tag_invalidation_does_not_join_a_run_that_may_add_the_tag()
    {
        var time = T.Clock();
        await using var a = Node(time, new InMemorySharedTierHub(), "a");
        var factory = new HeldFactory("old");
        var fill = a.GetOrSetAsync<string>("page:3", factory.RunAsync, cancellationToken: T.Ct).AsTask();
        await factory.Entered.Task.WaitAsync(T.Ct);
        await a.InvalidateTagAsync("t", T.Ct);

        // The caller starts its own run (the join is decided when it calls); that run waits for the fleet lease the first
        // one holds, which it gets back once the first finishes without storing.
        var late = a.GetOrSetAsync("page:3", _ => ValueTask.FromResult("new"), cancellationToken: T.Ct).AsTask();
        factory.Release.SetResult();
        Assert.Equal("old", await fill);
        Assert.Equal("new", await late);
        Assert.Equal("new", await a.GetOrSetAsync("page:3", _ => ValueTask.FromResult("newer"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Without_a_tag_invalidation_while_it_ran_a_value_with_added_tags_is_cached_in_both_tiers()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await a.InvalidateTagAsync("t", T.Ct); // before the call: a version the value is stamped with
        var factory = new HeldFactory("v");
        factory.Release.SetResult();
        Assert.Equal("v", await a.GetOrSetAsync<string>("page:4", factory.RunAsync, cancellationToken: T.Ct));

        await using var c = Node(time, hub, "c");
        Assert.Equal("v", await c.GetOrSetAsync("page:4", _ => ValueTask.FromResult("c's"), cancellationToken: T.Ct));
        Assert.Equal("v", await a.GetOrSetAsync("page:4", _ => ValueTask.FromResult("a's"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Invalid_tags_added_by_the_factory_are_refused_naming_each_and_nothing_is_cached()
    {
        var time = T.Clock();
        await using var a = Node(time, new InMemorySharedTierHub(), "a");
        var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await a.GetOrSetAsync<string>("page:5", (context, _) =>
        {
            context.AddTags("ok", "", "bad\u0001tag", null!);
            return ValueTask.FromResult("v");
        }, cancellationToken: T.Ct));
        Assert.Contains("'page:5'", ex.Message);
        Assert.Contains("tag 1 ''", ex.Message);
        Assert.Contains("tag 2 'bad", ex.Message);
        Assert.Contains("tag 3 is null", ex.Message);
        Assert.False((await a.TryGetAsync<string>("page:5", T.Ct)).Found);
    }
}
