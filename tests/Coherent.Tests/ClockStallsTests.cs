using Coherent.Local;

namespace Coherent.Tests;

/// <summary>
/// The coarse clock's lag past its guard cannot be caught on the hit path, so it is measured where the clock thread wakes
/// (<see cref="ClockStalls"/>) and published as <c>coherent.clock.stalls</c>.
/// </summary>
public sealed class ClockStallsTests
{
    [Fact]
    public void A_lag_within_the_guard_is_not_a_stall_and_one_past_it_is_counted_with_the_longest_lag()
    {
        var stalls = new ClockStalls();

        Assert.False(stalls.Observe(coarseMs: 1_000, exactMs: 1_000 + CacheClock.CoarseGuardMs));
        Assert.True(stalls.Observe(coarseMs: 2_000, exactMs: 2_400));
        Assert.True(stalls.Observe(coarseMs: 3_000, exactMs: 3_051));

        Assert.Equal(2, stalls.Count);
        Assert.Equal(400, stalls.LongestMs);
    }

    [Fact]
    public async Task The_stall_count_is_published_with_the_caches_instruments()
    {
        await using var cache = new CoherentCacheBuilder().WithName($"stalls-{Guid.NewGuid():N}").Build();
        using var metrics = new Metrics(cache.Name);

        var before = CacheClock.Stalls.Count; // process-wide: a real stall may land while the test runs
        var published = metrics.Counter("coherent.clock.stalls");

        Assert.NotNull(metrics.MeterOf("coherent.clock.stalls")); // reported for this cache
        Assert.InRange(published, before, CacheClock.Stalls.Count);
    }
}
