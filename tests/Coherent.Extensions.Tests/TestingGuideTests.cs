using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Extensions.Tests;

/// <summary>The example of docs/testing.md, run: fake time through the container, no shared tier, assertions through the meter.</summary>
public sealed class TestingGuideTests
{
    [Fact]
    public async Task A_price_is_served_from_l1_until_its_ttl_then_recomputed_and_the_meter_tells_the_outcomes_and_ages()
    {
        #region testing-guide
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero));
        var services = new ServiceCollection();
        services.AddMetrics();                              // IMeterFactory: the cache's meter is scoped to this container
        services.AddSingleton<TimeProvider>(time);          // the cache takes the container's TimeProvider
        services.AddCoherentCache(b => b                    // no WithRedis(): single node, L1 only
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).NoEarlyRefresh().Jitter(0)));
        await using var provider = services.BuildServiceProvider();

        var meters = provider.GetRequiredService<IMeterFactory>();
        using var requests = new MetricCollector<long>(meters, CoherentTelemetryNames.MeterName, "coherent.requests");
        using var servedAge = new MetricCollector<double>(meters, CoherentTelemetryNames.MeterName, "coherent.served_age");
        var cache = provider.GetRequiredService<ICoherentCache>();

        var loads = 0;
        ValueTask<decimal> Load(CancellationToken _) => ValueTask.FromResult(10m + loads++);
        Assert.Equal(10m, await cache.GetOrSetAsync("price:42", Load));     // computed
        time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(10m, await cache.GetOrSetAsync("price:42", Load));     // L1 hit, 9 minutes old
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(11m, await cache.GetOrSetAsync("price:42", Load));     // past the 10-minute Ttl: computed again

        requests.RecordObservableInstruments();                            // request counts are observable counters
        long Count(string outcome) => requests.GetMeasurementSnapshot()
            .LastOrDefault(m => m.Tags["coherent.family"] is "price" && m.Tags["coherent.outcome"] as string == outcome)?.Value ?? 0;
        Assert.Equal(2, Count("computed"));
        Assert.Equal(1, Count("l1_hit"));
        Assert.Equal([0.0, 540.0, 0.0], servedAge.GetMeasurementSnapshot().Select(m => m.Value));   // seconds
        #endregion
    }

    [Fact]
    public void The_guide_shows_the_code_run_here()
    {
        Assert.Equal(DocumentedCode.BlockAfter("docs/testing.md", "## Asserting outcomes"), DocumentedCode.Region("TestingGuideTests.cs", "testing-guide"));
    }
}
