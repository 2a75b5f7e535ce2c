using Coherent.InMemory;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>The factory decides (issue 15, part 1): a shorter Ttl, "do not cache", and the previous value for a cheap "not modified".</summary>
public sealed class FactoryContextTests
{
    internal static readonly TimeSpan Ttl = TimeSpan.FromMinutes(10);

    /// <summary>A node of the "page" family (fail-safe for an hour) on the hub; the metadata tests use it too.</summary>
    internal static CoherentCache Node(FakeTimeProvider time, InMemorySharedTierHub hub, string name) =>
        new CoherentCacheBuilder().WithTimeProvider(time).WithName($"{name}-{Guid.NewGuid():N}")
            .Define("page", p => p.MaxStaleness(TimeSpan.FromMinutes(1)).Ttl(Ttl).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromHours(1)))
            .WithSharedTier(hub.Node())
            .Build();

    [Fact]
    public async Task A_factory_that_shortens_the_ttl_gets_an_entry_that_expires_then()
    {
        var time = T.Clock();
        await using var cache = Node(time, new InMemorySharedTierHub(), "short");
        var runs = 0;
        ValueTask<int> Factory(CacheFactoryContext<int> context, CancellationToken _)
        {
            Assert.Equal(Ttl, context.Ttl); // starts from the family's
            context.Ttl = TimeSpan.FromMinutes(1);
            return ValueTask.FromResult(++runs);
        }

        Assert.Equal(1, await cache.GetOrSetAsync<int>("page:1", Factory, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal(1, await cache.GetOrSetAsync<int>("page:1", Factory, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(2, await cache.GetOrSetAsync<int>("page:1", Factory, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_ttl_beyond_the_familys_is_refused_naming_it_and_nothing_is_cached()
    {
        var time = T.Clock();
        await using var cache = Node(time, new InMemorySharedTierHub(), "long");
        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await cache.GetOrSetAsync<int>("page:2", (context, _) => { context.Ttl = TimeSpan.FromHours(1); return ValueTask.FromResult(1); }, cancellationToken: T.Ct));
        Assert.Contains("'page'", ex.Message);
        Assert.Contains("10m", ex.Message);
        Assert.False((await cache.TryGetAsync<int>("page:2", T.Ct)).Found);
    }

    [Fact]
    public async Task A_result_the_factory_does_not_cache_reaches_every_waiting_caller_and_neither_tier()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var cache = Node(time, hub, "nocache");
        await using var other = Node(time, hub, "other");
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<string> ErrorPage(CacheFactoryContext<string> context, CancellationToken _)
        {
            entered.SetResult();
            await release.Task;
            context.DoNotCache();
            return "error page";
        }

        var first = cache.GetOrSetAsync<string>("page:3", ErrorPage, cancellationToken: T.Ct).AsTask();
        await entered.Task;
        var waiting = cache.GetOrSetAsync("page:3", _ => ValueTask.FromResult("never run"), cancellationToken: T.Ct).AsTask();
        release.SetResult();

        Assert.Equal("error page", await first);
        Assert.Equal("error page", await waiting);
        Assert.False((await cache.TryGetAsync<string>("page:3", T.Ct)).Found);
        Assert.False((await other.TryGetAsync<string>("page:3", T.Ct)).Found);
    }

    [Fact]
    public async Task The_factory_sees_the_previous_value_and_keeping_it_is_a_new_fill()
    {
        var time = T.Clock();
        await using var cache = Node(time, new InMemorySharedTierHub(), "previous");
        await cache.GetOrSetAsync<string>("page:4", (context, _) =>
        {
            Assert.False(context.HasPrevious);
            return ValueTask.FromResult("etag-1:body");
        }, cancellationToken: T.Ct);

        time.Advance(Ttl + TimeSpan.FromSeconds(1)); // expired: the factory runs and can ask the source "changed since etag-1?"
        var kept = await cache.GetOrSetAsync<string>("page:4", (context, _) =>
        {
            Assert.True(context.HasPrevious);
            Assert.Equal(T.Start, context.PreviousCreatedAt);
            return ValueTask.FromResult(context.PreviousValue!); // not modified
        }, cancellationToken: T.Ct);
        Assert.Equal("etag-1:body", kept);

        time.Advance(Ttl - TimeSpan.FromSeconds(1)); // fresh from the check, not from the first fill
        Assert.Equal("etag-1:body", await cache.GetOrSetAsync("page:4", _ => ValueTask.FromResult("recomputed"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task An_invalidated_value_is_never_shown_as_the_previous_one()
    {
        var time = T.Clock();
        await using var cache = Node(time, new InMemorySharedTierHub(), "invalidated");
        await cache.GetOrSetAsync("page:5", _ => ValueTask.FromResult("old"), cancellationToken: T.Ct);
        await cache.InvalidateAsync("page:5", T.Ct);

        var seen = await cache.GetOrSetAsync<string>("page:5", (context, _) => ValueTask.FromResult(context.HasPrevious ? "saw " + context.PreviousValue : "none"), cancellationToken: T.Ct);
        Assert.Equal("none", seen);
    }
}
