using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

public sealed class FailSafeTests
{
    private static CoherentCache Build(FakeTimeProvider time, TimeSpan? soft = null, TimeSpan? hard = null, bool failSafe = true, [System.Runtime.CompilerServices.CallerMemberName] string name = "") =>
        T.Price(time, TimeSpan.FromSeconds(10), p =>
        {
            if (failSafe)
            {
                p.FailSafe(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5));
            }

            p.Timeouts(soft, hard);
        }, name).Build();

    private static ValueTask<int> Throw(CancellationToken _) => throw new InvalidOperationException("source down");

    [Fact]
    public async Task A_failing_factory_serves_the_last_value_and_backs_off_for_the_throttle()
    {
        var time = T.Clock();
        await using var cache = Build(time);
        using var metrics = new Metrics(cache.Name);
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(10));

        var runs = 0;
        ValueTask<int> Failing(CancellationToken ct) { runs++; return Throw(ct); }

        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct));
        Assert.Equal(1, runs);
        Assert.Equal(1, metrics.Counter("coherent.fail_safe.activations", "price"));

        // Within the throttle: the stale value, without calling the factory.
        time.Advance(TimeSpan.FromSeconds(4.999));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct));
        Assert.Equal(1, runs);
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found); // not fresh: TryGet does not serve stale

        // Throttle over: the factory is tried again (fails again: stale again, throttle restarts).
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct));
        Assert.Equal(2, runs);
        Assert.Equal(2, metrics.Counter("coherent.fail_safe.activations", "price"));
        Assert.True(metrics.Counter("coherent.requests", "price", "stale") >= 3);

        // The source recovers after the throttle: the new value is stored.
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", _ => T.Value(2), cancellationToken: T.Ct));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_value_older_than_the_fail_safe_limit_is_not_served()
    {
        var time = T.Clock();
        await using var cache = Build(time);
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromMilliseconds(59_999));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Throw, cancellationToken: T.Ct)); // just under the limit
        time.Advance(TimeSpan.FromMilliseconds(5_001)); // past the throttle and past the limit
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await cache.GetOrSetAsync("price:1", Throw, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Without_fail_safe_the_exception_surfaces()
    {
        var time = T.Clock();
        await using var cache = Build(time, failSafe: false);
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await cache.GetOrSetAsync("price:1", Throw, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task An_invalidated_value_is_never_served_by_fail_safe()
    {
        var time = T.Clock();
        await using var cache = Build(time);
        await cache.SetAsync("price:1", 1, new CacheEntryOptions { Tags = ["t"] }, T.Ct);
        await cache.SetAsync("price:2", 2, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(10));
        await cache.InvalidateTagAsync("t", T.Ct);
        await cache.InvalidateAsync("price:2", T.Ct);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await cache.GetOrSetAsync("price:1", Throw, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await cache.GetOrSetAsync("price:2", Throw, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Hard_timeout_cancels_the_factory_and_serves_the_last_value()
    {
        var time = T.Clock();
        await using var cache = Build(time, hard: TimeSpan.FromSeconds(2));
        using var metrics = new Metrics(cache.Name);
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(10));

        var started = T.Gate();
        var cancelled = T.Gate();
        async ValueTask<int> Hanging(CancellationToken ct)
        {
            using var reg = ct.Register(() => cancelled.TrySetResult());
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return 2;
        }

        var call = cache.GetOrSetAsync("price:1", Hanging, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);
        time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, await T.Soon(call));
        await T.Soon(cancelled.Task);
        Assert.Equal(1, metrics.Counter("coherent.fail_safe.activations", "price"));
        Assert.Equal(1, metrics.Counter("coherent.factory.failures", "price"));
    }

    [Fact]
    public async Task Hard_timeout_without_a_fallback_throws_FactoryTimeoutException()
    {
        var time = T.Clock();
        await using var cache = Build(time, hard: TimeSpan.FromSeconds(2));
        var started = T.Gate();
        var call = cache.GetOrSetAsync("price:1", async ct => { started.TrySetResult(); await Task.Delay(Timeout.Infinite, ct); return 2; }, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);
        time.Advance(TimeSpan.FromSeconds(2));
        var ex = await Assert.ThrowsAsync<FactoryTimeoutException>(() => T.Soon(call));
        Assert.Equal(TimeSpan.FromSeconds(2), ex.Timeout);
        Assert.Contains("price:1", ex.Message, StringComparison.Ordinal);
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
        Assert.Equal(3, await cache.GetOrSetAsync("price:1", _ => T.Value(3), cancellationToken: T.Ct));
    }

    /// <summary>A fake clock that counts the timers created on it (a timeout's timer must exist before the test advances time).</summary>
    private sealed class CountingClock(FakeTimeProvider inner) : TimeProvider
    {
        private int _timers;

        public int Timers => Volatile.Read(ref _timers);

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _timers);
            return inner.CreateTimer(callback, state, dueTime, period);
        }
    }

    [Theory]
    [InlineData("soft")]
    [InlineData("hard")]
    public async Task Timeouts_apply_to_a_factory_that_blocks_synchronously(string which)
    {
        var fake = T.Clock();
        var clock = new CountingClock(fake);
        await using var cache = T.Builder(fake).WithTimeProvider(clock).Define("price", p =>
        {
            p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(10)).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromMinutes(1));
            if (which == "soft")
            {
                p.Timeouts(soft: TimeSpan.FromSeconds(1));
            }
            else
            {
                p.Timeouts(hard: TimeSpan.FromSeconds(1));
            }
        }).Build();
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        fake.Advance(TimeSpan.FromSeconds(10));
        var timersBefore = clock.Timers; // the sweep timer

        using var release = new ManualResetEventSlim();
        ValueTask<int> Blocking(CancellationToken _)
        {
            release.Wait(TimeSpan.FromSeconds(10), CancellationToken.None); // a synchronous driver call, say
            return T.Value(2);
        }

        var call = Task.Run(() => cache.GetOrSetAsync("price:1", Blocking).AsTask(), T.Ct);
        try
        {
            await T.Until(() => clock.Timers > timersBefore, $"the {which} timeout's timer was created", 3000);
            fake.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(1, await T.Soon(call, 3000));
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public async Task A_TimeoutException_thrown_by_the_factory_is_not_reported_as_the_hard_timeout()
    {
        var time = T.Clock();
        await using var cache = Build(time, hard: TimeSpan.FromSeconds(30), failSafe: false);
        var ex = await Assert.ThrowsAsync<TimeoutException>(async () => await cache.GetOrSetAsync<int>("price:1", _ => throw new TimeoutException("database timeout"), cancellationToken: T.Ct));
        Assert.Equal("database timeout", ex.Message);
    }

    [Fact]
    public async Task Soft_timeout_returns_the_stale_value_and_the_factory_refreshes_in_the_background()
    {
        var time = T.Clock();
        await using var cache = Build(time, soft: TimeSpan.FromSeconds(1));
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(10));

        var started = T.Gate();
        var release = T.Gate();
        var factoryToken = CancellationToken.None;
        var runs = 0;
        async ValueTask<int> Slow(CancellationToken ct)
        {
            runs++;
            factoryToken = ct;
            started.TrySetResult();
            await release.Task;
            return 2;
        }

        var call = cache.GetOrSetAsync("price:1", Slow, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, await T.Soon(call));
        Assert.False(factoryToken.IsCancellationRequested);

        release.SetResult();
        await T.Until(async () => (await cache.TryGetAsync<int>("price:1")).Value == 2, "background factory stored its value");
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", Slow, cancellationToken: T.Ct));
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task Soft_timeout_with_nothing_stale_left_keeps_waiting_for_the_factory()
    {
        var time = T.Clock();
        await using var cache = Build(time, soft: TimeSpan.FromSeconds(1));
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(10));

        var started = T.Gate();
        var release = T.Gate();
        var call = cache.GetOrSetAsync("price:1", async _ => { started.TrySetResult(); await release.Task; return 2; }, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);

        // The stale value goes away while the caller waits; at the soft timeout there is nothing to serve.
        await cache.InvalidateAsync("price:1", T.Ct);
        time.Advance(TimeSpan.FromSeconds(1));
        await Task.Yield();
        Assert.False(call.IsFaulted, call.Exception?.ToString());
        release.SetResult();
        Assert.Equal(2, await T.Soon(call));
    }

    [Fact]
    public async Task Soft_timeout_without_a_stale_value_waits_for_the_factory()
    {
        var time = T.Clock();
        await using var cache = Build(time, soft: TimeSpan.FromSeconds(1));
        var started = T.Gate();
        var release = T.Gate();
        var call = cache.GetOrSetAsync("price:1", async _ => { started.TrySetResult(); await release.Task; return 2; }, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(call.IsCompleted);
        release.SetResult();
        Assert.Equal(2, await T.Soon(call));
    }
}
