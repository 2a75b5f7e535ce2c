using Coherent.Refresh;

namespace Coherent.Tests;

public sealed class ExpiryTests
{
    [Fact]
    public async Task Entries_expire_exactly_at_their_ttl()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10)).Build();
        var runs = 0;
        ValueTask<int> F(CancellationToken _) => T.Value(++runs);

        Assert.Equal(1, await cache.GetOrSetAsync("price:1", F, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(9_999));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", F, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", F, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task LocalTtl_bounds_the_local_copy()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromMinutes(10), p => p.LocalTtl(TimeSpan.FromSeconds(3))).Build();
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
    }

    [Theory]
    [InlineData(0.0, 90_000)]         // U = 0 → TTL × (1 - jitter)
    [InlineData(0.5, 95_000)]         // middle
    [InlineData(0.999_999_9, 99_999)] // U → 1 → just under the TTL, never past it (issue 11, hole 11: it reached TTL × 1.1)
    public async Task Jitter_shortens_expiry_by_up_to_the_fraction_and_never_lengthens_it(double draw, long expectedMs)
    {
        var time = T.Clock();
        var builder = T.Price(time, TimeSpan.FromSeconds(100), p => p.Jitter(0.1));
        builder.RandomValue = new FixedRandom(draw);
        await using var cache = builder.Build();
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);

        time.Advance(TimeSpan.FromMilliseconds(expectedMs - 1));
        Assert.True((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
    }

    [Fact]
    public async Task Jitter_spreads_expiries_uniformly_within_bounds()
    {
        var time = T.Clock();
        var builder = T.Price(time, TimeSpan.FromSeconds(100), p => p.Jitter(0.2));
        builder.RandomValue = new Random(1234);
        await using var cache = builder.Build();
        var start = time.GetUtcNow().ToUnixTimeMilliseconds();
        var ttls = new List<long>();
        for (var i = 0; i < 2_000; i++)
        {
            await cache.SetAsync($"price:{i}", i, cancellationToken: T.Ct);
            var e = cache.Diagnostics.LocalEntry($"price:{i}");
            Assert.NotNull(e);
            ttls.Add(e.ExpiresAtMs - start);
        }

        Assert.All(ttls, t => Assert.InRange(t, 80_000, 100_000));
        Assert.InRange(ttls.Min(), 80_000, 81_000);
        Assert.InRange(ttls.Max(), 99_000, 100_000);
        Assert.InRange(ttls.Count(t => t < 90_000), 900, 1_100);
    }

    [Fact]
    public async Task Entries_retained_for_fail_safe_are_swept_after_retention()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10), p => p.FailSafe(TimeSpan.FromMinutes(2))).Build();
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        await cache.SetAsync("price:2", 2, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(60)); // two sweeps: expired but still retained for fail-safe
        Assert.Equal(2, cache.LocalCount);
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(0, cache.LocalCount);
    }
}

public sealed class XFetchTests
{
    [Fact]
    public void Refresh_rule_is_now_minus_delta_beta_lnU_at_or_past_expiry()
    {
        // U = 1: ln U = 0, so only at expiry.
        Assert.False(XFetch.ShouldRefresh(999, 1000, 100, 1, 1.0));
        Assert.True(XFetch.ShouldRefresh(1000, 1000, 100, 1, 1.0));

        // U = e^-1: refresh from one delta·beta before expiry.
        var u = Math.Exp(-1);
        Assert.True(XFetch.ShouldRefresh(900, 1000, 100, 1, u));
        Assert.False(XFetch.ShouldRefresh(899, 1000, 100, 1, u));
        Assert.True(XFetch.ShouldRefresh(800, 1000, 100, 2, u));   // beta 2 doubles the reach
        Assert.False(XFetch.ShouldRefresh(799, 1000, 100, 2, u));
        Assert.False(XFetch.ShouldRefresh(999, 1000, 100, 0, u));  // beta 0: never early

        Assert.Equal(long.MaxValue, XFetch.WindowStart(1000, 100, null));
        Assert.Equal(long.MaxValue, XFetch.WindowStart(1000, 0, 1));
        Assert.Equal(1000 - 1000, XFetch.WindowStart(1000, 100, 1));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(50.0)]
    [InlineData(100.0)]
    [InlineData(250.0)]
    public void Refresh_probability_has_the_exponential_shape(double gapMs)
    {
        var random = new Random(42);
        const int n = 40_000;
        var hits = 0;
        for (var i = 0; i < n; i++)
        {
            if (XFetch.ShouldRefresh(1000 - (long)gapMs, 1000, 100, 1.0, XFetch.NextU(random)))
            {
                hits++;
            }
        }

        var expected = Math.Exp(-gapMs / 100.0);
        Assert.Equal(expected, XFetch.Probability(gapMs, 100, 1.0), 9);
        Assert.InRange((double)hits / n, expected - 0.01, expected + 0.01);
    }

    [Fact]
    public void NextU_is_in_the_half_open_unit_interval_excluding_zero()
    {
        Assert.Equal(1.0, XFetch.NextU(new FixedRandom(0.0)));
        Assert.True(XFetch.NextU(new FixedRandom(0.999_999_999)) > 0);
    }

    private static (CoherentCache Cache, FixedRandom Random) Build(Microsoft.Extensions.Time.Testing.FakeTimeProvider time, double beta = 1)
    {
        var random = new FixedRandom(0.0); // U = 1: no early refresh until the test lowers U
        var builder = T.Builder(time).Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(60)).Jitter(0).EarlyRefresh(beta));
        builder.RandomValue = random;
        return (builder.Build(), random);
    }

    [Fact]
    public async Task A_hit_in_the_window_refreshes_in_the_background_once_and_returns_the_current_value()
    {
        var time = T.Clock();
        var (cache, random) = Build(time);
        await using var _ = cache;

        // First fill takes 1 s of (fake) time: delta = 1000 ms.
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", _ => { time.Advance(TimeSpan.FromSeconds(1)); return T.Value(1); }, cancellationToken: T.Ct));

        var runs = 0;
        var started = T.Gate();
        var release = T.Gate();
        async ValueTask<int> Refresh(CancellationToken ct)
        {
            Interlocked.Increment(ref runs);
            started.TrySetResult();
            await release.Task;
            return 2;
        }

        // 0.5 s before expiry: U = 1 → no refresh.
        time.Advance(TimeSpan.FromSeconds(59.5));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Refresh, cancellationToken: T.Ct));
        Assert.Equal(0, runs);

        // U = 0.1: -ln U ≈ 2.3 delta, reaches past expiry → refresh; the caller still gets 1 at once.
        random.Draw = 0.9;
        var served = cache.GetOrSetAsync("price:1", Refresh, cancellationToken: T.Ct);
        Assert.True(served.IsCompletedSuccessfully);
        Assert.Equal(1, await served);
        await T.Soon(started.Task);

        // More hits while it runs: same value, no second refresh.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(1, await cache.GetOrSetAsync("price:1", Refresh, cancellationToken: T.Ct));
        }

        Assert.Equal(1, runs);
        release.SetResult();
        await T.Until(async () => (await cache.TryGetAsync<int>("price:1")).Value == 2, "refreshed value stored");
        Assert.Equal(1, runs);

        // The refreshed entry lives a full TTL from the refresh.
        random.Draw = 0.0;
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", _ => T.Value(3), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Early_refresh_never_runs_the_factory_on_the_callers_thread()
    {
        var time = T.Clock();
        var (cache, random) = Build(time);
        await using var _ = cache;
        await cache.GetOrSetAsync("price:1", _ => { time.Advance(TimeSpan.FromSeconds(1)); return T.Value(1); }, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(59.5));
        random.Draw = 0.9;

        // A synchronous (blocking) factory: the hit must still return at once with the current value.
        using var release = new ManualResetEventSlim();
        var hit = Task.Run(() => cache.GetOrSetAsync("price:1", _ => { release.Wait(TimeSpan.FromSeconds(10), CancellationToken.None); return T.Value(2); }).AsTask(), T.Ct);
        var finished = await Task.WhenAny(hit, Task.Delay(TimeSpan.FromSeconds(2), T.Ct));
        release.Set();
        Assert.Same(hit, finished);
        Assert.Equal(1, await hit);
        await T.Until(async () => (await cache.TryGetAsync<int>("price:1")).Value == 2, "refreshed value stored");
    }

    [Fact]
    public async Task A_failed_background_refresh_counts_no_fail_safe_serve_but_backs_off()
    {
        var time = T.Clock();
        var random = new FixedRandom(0.9);
        var builder = T.Builder(time).Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(60)).Jitter(0).EarlyRefresh(1)
            .FailSafe(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(30)));
        builder.RandomValue = random;
        await using var cache = builder.Build();
        using var metrics = new Metrics(cache.Name);
        await cache.GetOrSetAsync("price:1", _ => { time.Advance(TimeSpan.FromSeconds(1)); return T.Value(1); }, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(59.5));

        var runs = 0;
        Assert.Equal(1, await cache.GetOrSetAsync<int>("price:1", _ => { Interlocked.Increment(ref runs); throw new InvalidOperationException("down"); }, cancellationToken: T.Ct));
        await T.Until(() => cache.Diagnostics.FlightCount == 0 && runs == 1, "background refresh failed");
        Assert.Equal(1, metrics.Counter("coherent.factory.failures", "price"));
        Assert.Equal(0, metrics.Counter("coherent.fail_safe.activations", "price"));
        Assert.Equal(0, metrics.Counter("coherent.requests", "price", "stale"));

        // Past expiry, within the throttle: the last value without another attempt (and now it is a fail-safe serve).
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await cache.GetOrSetAsync<int>("price:1", _ => { Interlocked.Increment(ref runs); throw new InvalidOperationException("down"); }, cancellationToken: T.Ct));
        Assert.Equal(1, runs);
        Assert.Equal(1, metrics.Counter("coherent.requests", "price", "stale"));
    }

    [Fact]
    public async Task Early_refresh_is_off_when_disabled_or_delta_is_zero()
    {
        var time = T.Clock();
        var (cache, random) = Build(time);
        await using var _ = cache;
        random.Draw = 0.999_999;
        await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct); // delta 0 on a fake clock
        time.Advance(TimeSpan.FromSeconds(59.9));
        var runs = 0;
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", _ => { runs++; return T.Value(2); }, cancellationToken: T.Ct));
        Assert.Equal(0, runs);

        var builder = T.Price(time); // NoEarlyRefresh
        builder.RandomValue = new FixedRandom(0.999_999);
        await using var off = builder.Build();
        await off.GetOrSetAsync("price:1", _ => { time.Advance(TimeSpan.FromSeconds(10)); return T.Value(1); }, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(59.9));
        Assert.Equal(1, await off.GetOrSetAsync("price:1", _ => { runs++; return T.Value(2); }, cancellationToken: T.Ct));
        Assert.Equal(0, runs);
    }

    [Fact]
    public async Task Refresh_frequency_through_the_cache_follows_the_probability()
    {
        var time = T.Clock();
        var builder = T.Builder(time).Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(60)).Jitter(0).EarlyRefresh(1));
        builder.RandomValue = new Random(7);
        await using var cache = builder.Build();

        // 400 keys, each computed in 100 ms; then hit each once at 100 ms before expiry: P = e^-1.
        for (var i = 0; i < 400; i++)
        {
            await cache.GetOrSetAsync($"price:{i}", _ => { time.Advance(TimeSpan.FromMilliseconds(100)); return T.Value(0); }, cancellationToken: T.Ct);
        }

        // Every entry expires 60 s after its own fill; read each one exactly 100 ms before that.
        var refreshed = 0;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 0; i < 400; i++)
        {
            var e = cache.Diagnostics.LocalEntry($"price:{i}");
            Assert.NotNull(e);
            time.Advance(TimeSpan.FromMilliseconds(e.ExpiresAtMs - 100 - now));
            now = time.GetUtcNow().ToUnixTimeMilliseconds();
            await cache.GetOrSetAsync($"price:{i}", _ => { Interlocked.Increment(ref refreshed); return T.Value(1); }, cancellationToken: T.Ct);
        }

        await T.Until(() => cache.Diagnostics.FlightCount == 0, "refreshes finished");
        Assert.InRange(refreshed, (int)(400 * 0.26), (int)(400 * 0.47)); // e^-1 = 0.37 ± ~4.5σ
    }
}
