namespace Coherent.Tests;

/// <summary>An invalidation that lands while a factory for the key runs: the result goes to its callers but is not stored.</summary>
public sealed class FencingTests
{
    private sealed class GatedFactory<TValue>(TValue value)
    {
        public TaskCompletionSource Started { get; } = T.Gate();
        public TaskCompletionSource Release { get; } = T.Gate();
        public int Runs;

        public async ValueTask<TValue> Run(CancellationToken _)
        {
            Interlocked.Increment(ref Runs);
            Started.TrySetResult();
            await Release.Task;
            return value;
        }
    }

    [Fact]
    public async Task Invalidate_during_the_factory_returns_its_result_but_does_not_store_it()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var old = new GatedFactory<string>("old");
        var a = cache.GetOrSetAsync("price:1", old.Run, cancellationToken: T.Ct).AsTask();
        await T.Soon(old.Started.Task);
        var joined = cache.GetOrSetAsync("price:1", old.Run, cancellationToken: T.Ct).AsTask(); // joined before the invalidation

        await cache.InvalidateAsync("price:1", T.Ct);
        old.Release.SetResult();
        Assert.Equal("old", await T.Soon(a));
        Assert.Equal("old", await T.Soon(joined));
        Assert.False((await cache.TryGetAsync<string>("price:1", T.Ct)).Found);
        Assert.Equal("new", await cache.GetOrSetAsync("price:1", _ => T.Value("new"), cancellationToken: T.Ct));
        Assert.Equal(1, old.Runs);
    }

    [Fact]
    public async Task Set_during_the_factory_wins_over_the_factorys_result()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var old = new GatedFactory<string>("computed");
        var a = cache.GetOrSetAsync("price:1", old.Run, cancellationToken: T.Ct).AsTask();
        await T.Soon(old.Started.Task);
        await cache.SetAsync("price:1", "written", cancellationToken: T.Ct);
        old.Release.SetResult();
        Assert.Equal("computed", await T.Soon(a));
        Assert.Equal(new CacheLookup<string>(true, "written"), await cache.TryGetAsync<string>("price:1", T.Ct));
    }

    [Fact]
    public async Task Tag_invalidation_during_the_factory_makes_its_result_uncacheable()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var tagged = new CacheEntryOptions { Tags = ["shop:3"] };
        var old = new GatedFactory<string>("old");
        var a = cache.GetOrSetAsync("price:1", old.Run, tagged, T.Ct).AsTask();
        await T.Soon(old.Started.Task);
        await cache.InvalidateTagAsync("shop:3", T.Ct);
        old.Release.SetResult();
        Assert.Equal("old", await T.Soon(a));
        Assert.False((await cache.TryGetAsync<string>("price:1", T.Ct)).Found);

        // An unrelated tag does not fence.
        var other = new GatedFactory<string>("kept");
        var b = cache.GetOrSetAsync("price:2", other.Run, tagged, T.Ct).AsTask();
        await T.Soon(other.Started.Task);
        await cache.InvalidateTagAsync("shop:4", T.Ct);
        other.Release.SetResult();
        Assert.Equal("kept", await T.Soon(b));
        Assert.True((await cache.TryGetAsync<string>("price:2", T.Ct)).Found);
    }

    [Fact]
    public async Task Clear_during_the_factory_makes_its_result_uncacheable()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var old = new GatedFactory<string>("old");
        var a = cache.GetOrSetAsync("price:1", old.Run, cancellationToken: T.Ct).AsTask();
        await T.Soon(old.Started.Task);
        await cache.ClearAsync(T.Ct);
        old.Release.SetResult();
        Assert.Equal("old", await T.Soon(a));
        Assert.False((await cache.TryGetAsync<string>("price:1", T.Ct)).Found);
    }

    [Fact]
    public async Task Invalidating_another_key_does_not_fence()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var f = new GatedFactory<string>("v");
        var a = cache.GetOrSetAsync("price:1", f.Run, cancellationToken: T.Ct).AsTask();
        await T.Soon(f.Started.Task);
        await cache.InvalidateAsync("price:10", T.Ct);
        await cache.SetAsync("price:11", "x", cancellationToken: T.Ct);
        f.Release.SetResult();
        Assert.Equal("v", await T.Soon(a));
        Assert.True((await cache.TryGetAsync<string>("price:1", T.Ct)).Found);
    }

    [Theory]
    [InlineData("invalidate")]
    [InlineData("tag")]
    [InlineData("clear")]
    public async Task A_read_that_starts_after_the_invalidation_does_not_get_the_fenced_result(string how)
    {
        await using var cache = T.Price(T.Clock()).Build();
        var tagged = new CacheEntryOptions { Tags = ["t"] };
        var old = new GatedFactory<string>("old");
        var a = cache.GetOrSetAsync("price:1", old.Run, tagged, T.Ct).AsTask();
        await T.Soon(old.Started.Task);

        switch (how)
        {
            case "invalidate": await cache.InvalidateAsync("price:1", T.Ct); break;
            case "tag": await cache.InvalidateTagAsync("t", T.Ct); break;
            default: await cache.ClearAsync(T.Ct); break;
        }

        // This read began after the writer told the cache: the value computed before must not reach it.
        var fresh = new GatedFactory<string>("new");
        var b = cache.GetOrSetAsync("price:1", fresh.Run, tagged, T.Ct).AsTask();
        old.Release.SetResult();
        Assert.Equal("old", await T.Soon(a));
        fresh.Release.SetResult();
        Assert.Equal("new", await T.Soon(b));
        Assert.Equal(new CacheLookup<string>(true, "new"), await cache.TryGetAsync<string>("price:1", T.Ct));
    }

    [Fact]
    public async Task Invalidate_during_an_early_refresh_drops_the_refreshed_value()
    {
        var time = T.Clock();
        var builder = T.Builder(time).Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(60)).Jitter(0).EarlyRefresh(1));
        builder.RandomValue = new FixedRandom(0.9);
        await using var cache = builder.Build();
        await cache.GetOrSetAsync("price:1", _ => { time.Advance(TimeSpan.FromSeconds(1)); return T.Value("v1"); }, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(59.5));

        var refresh = new GatedFactory<string>("v2-from-old-data");
        Assert.Equal("v1", await cache.GetOrSetAsync("price:1", refresh.Run, cancellationToken: T.Ct));
        await T.Soon(refresh.Started.Task);
        await cache.InvalidateAsync("price:1", T.Ct);
        refresh.Release.SetResult();
        await T.Until(() => cache.Diagnostics.FlightCount == 0, "refresh finished");
        Assert.False((await cache.TryGetAsync<string>("price:1", T.Ct)).Found);
    }
}
