using Coherent.SharedTier;

namespace Coherent.Tests;

/// <summary>
/// MaxStaleness holds even when the hit path's cheap clock lags real time (the coarse clock's thread left unscheduled on
/// a loaded machine): near the bound the entry is judged by the exact clock.
/// </summary>
public sealed class StalenessBoundTests
{
    [Fact]
    public Task An_unconfirmed_value_is_not_served_past_MaxStaleness_when_the_hit_clock_lags() =>
        // 10 ms inside the bound: served; 10 ms past it by real time (20 ms inside it by the lagging clock): recomputed.
        ServedUntilTheBoundAsync(hitClockLagMs: 30, servedAtMs: -10, refusedAtMs: 10);

    [Fact]
    public Task Exactly_at_the_bound_a_value_is_no_longer_served() =>
        ServedUntilTheBoundAsync(hitClockLagMs: 0, servedAtMs: -1, refusedAtMs: 0);

    /// <summary>
    /// The bus confirmed everything up to t0, then went silent (as under a fault): a value fetched at t0 is served at
    /// t0 + MaxStaleness + <paramref name="servedAtMs"/> and recomputed at t0 + MaxStaleness + <paramref name="refusedAtMs"/>.
    /// </summary>
    private static async Task ServedUntilTheBoundAsync(long hitClockLagMs, long servedAtMs, long refusedAtMs)
    {
        var time = T.Clock();
        var builder = T.Price(time, ttl: TimeSpan.FromMinutes(10));
        if (hitClockLagMs > 0)
        {
            builder.LaggingHitClockForTests = () => time.GetUtcNow().ToUnixTimeMilliseconds() - hitClockLagMs;
        }

        await using var cache = builder.Build();
        ((ISharedTierHost)cache).SetConfirmedUpTo(time.GetUtcNow().ToUnixTimeMilliseconds());
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(++runs);
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));

        var maxStaleness = cache.Families.Resolve("price:1").MaxStalenessMs;
        time.Advance(TimeSpan.FromMilliseconds(maxStaleness + servedAtMs));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(refusedAtMs - servedAtMs));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
    }

    /// <summary>
    /// Issue 11, hole 7: the fetch time was taken when the factory returned, so with the bus silent a value computed by a
    /// 3-second factory was served until 3 s past MaxStaleness from when its source was read.
    /// </summary>
    [Fact]
    public async Task A_computed_value_is_bounded_from_when_its_factory_began_not_from_when_it_returned()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, ttl: TimeSpan.FromMinutes(10)).Build();
        ((ISharedTierHost)cache).SetConfirmedUpTo(time.GetUtcNow().ToUnixTimeMilliseconds()); // then the bus goes silent
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _)
        {
            var run = ++runs;
            if (run == 1)
            {
                time.Advance(TimeSpan.FromSeconds(3)); // reads its source now, returns 3 s later
            }

            return ValueTask.FromResult(run);
        }

        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        var maxStaleness = cache.Families.Resolve("price:1").MaxStalenessMs;
        time.Advance(TimeSpan.FromMilliseconds(maxStaleness - 3000 - 10));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(20)); // MaxStaleness + 10 ms after the source was read
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
    }

    /// <summary>
    /// Issue 11, hole 7: a soft timeout served the last value however long the bus had been silent, although no factory had
    /// failed. Only a failure may serve past MaxStaleness (that is what FailSafe declares); a slow factory is waited for.
    /// </summary>
    [Fact]
    public async Task A_soft_timeout_serves_the_last_value_only_while_it_is_within_MaxStaleness()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, ttl: TimeSpan.FromMinutes(10),
            more: p => p.FailSafe(TimeSpan.FromHours(1)).Timeouts(soft: TimeSpan.FromMilliseconds(100))).Build();
        ((ISharedTierHost)cache).SetConfirmedUpTo(time.GetUtcNow().ToUnixTimeMilliseconds()); // then the bus goes silent
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(cache.Families.Resolve("price:1").MaxStalenessMs + 10));

        var started = T.Gate();
        var release = T.Gate<int>();
        var call = cache.GetOrSetAsync("price:1", async _ =>
        {
            started.SetResult();
            return await release.Task;
        }, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);
        time.Advance(TimeSpan.FromMilliseconds(100)); // the soft timeout passes
        await Task.WhenAny(call, Task.Delay(200, T.Ct)); // room for a wrong answer to arrive
        release.SetResult(2);
        Assert.Equal(2, await T.Soon(call));
    }

    /// <summary>
    /// Issue 11, hole 8: time ran on the wall clock, so a step back kept a value fetched before it "fresh" (and the bus's
    /// confirmation "recent") for as long as the step — an hour here. Elapsed time now comes from the monotonic timestamp.
    /// </summary>
    [Theory]
    [InlineData(-3600)]
    [InlineData(3600)]
    public async Task A_wall_clock_step_neither_extends_MaxStaleness_nor_expires_early(int stepSeconds)
    {
        var time = new SteppingTimeProvider(T.Clock());
        await using var cache = new CoherentCacheBuilder().WithTimeProvider(time).WithName($"step-{Guid.NewGuid():N}")
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0).NoEarlyRefresh()).Build();
        var owner = (ISharedTierHost)cache;
        owner.SetConfirmedUpTo(owner.NowMs()); // then the bus goes silent
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(++runs);
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));

        time.StepWallClock(TimeSpan.FromSeconds(stepSeconds));
        time.Inner.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct)); // 4 s: within the bound whatever the wall says
        time.Inner.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct)); // 5 s: past it
    }
}
