using Coherent.Distributed;

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
        ((IDistributedTierOwner)cache).SetConfirmedUpTo(time.GetUtcNow().ToUnixTimeMilliseconds());
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(++runs);
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));

        var maxStaleness = cache.Families.Resolve("price:1").MaxStalenessMs;
        time.Advance(TimeSpan.FromMilliseconds(maxStaleness + servedAtMs));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(refusedAtMs - servedAtMs));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
    }
}
