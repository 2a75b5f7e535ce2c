using Coherent.Distributed;

namespace Coherent.Tests;

/// <summary>
/// MaxStaleness holds even when the hit path's cheap clock lags real time (the coarse clock's thread left unscheduled on
/// a loaded machine): near the bound the entry is judged by the exact clock.
/// </summary>
public sealed class StalenessBoundTests
{
    [Fact]
    public async Task An_unconfirmed_value_is_not_served_past_MaxStaleness_when_the_hit_clock_lags()
    {
        var time = T.Clock();
        var lagMs = 30L;
        var builder = T.Price(time, ttl: TimeSpan.FromMinutes(10));
        builder.LaggingHitClockForTests = () => time.GetUtcNow().ToUnixTimeMilliseconds() - lagMs;
        await using var cache = builder.Build();
        var owner = (IDistributedTierOwner)cache;

        // The bus confirmed everything up to now, then went silent (as under a fault): the value is fetched and confirmed
        // at t0 and nothing confirms it afterwards.
        var t0 = time.GetUtcNow().ToUnixTimeMilliseconds();
        owner.SetConfirmedUpTo(t0);
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(++runs);
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));

        // MaxStaleness − 10 ms later (real time): within the bound, served.
        var maxStaleness = cache.Families.Resolve("price:1").MaxStalenessMs;
        time.Advance(TimeSpan.FromMilliseconds(maxStaleness - 10));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));

        // 10 ms past the bound by real time, 20 ms inside it by the lagging clock: not served, recomputed.
        time.Advance(TimeSpan.FromMilliseconds(20));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Exactly_at_the_bound_a_value_is_no_longer_served()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, ttl: TimeSpan.FromMinutes(10)).Build();
        var owner = (IDistributedTierOwner)cache;
        owner.SetConfirmedUpTo(time.GetUtcNow().ToUnixTimeMilliseconds());
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(++runs);
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));

        var maxStaleness = cache.Families.Resolve("price:1").MaxStalenessMs;
        time.Advance(TimeSpan.FromMilliseconds(maxStaleness - 1));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
    }
}
