using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Coherent.Tests;

public sealed class LoggingTests
{
    [Fact]
    public async Task Failures_fail_safe_timeouts_and_fenced_results_log_with_stable_event_ids()
    {
        var time = T.Clock();
        using var provider = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(provider).SetMinimumLevel(LogLevel.Debug));
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10), p => p.FailSafe(TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1)).Timeouts(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)))
            .WithLoggerFactory(loggers)
            .Build();

        // 1001 factory failed, 1003 fail-safe activated.
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, await cache.GetOrSetAsync<int>("price:1", _ => throw new InvalidOperationException("down"), cancellationToken: T.Ct));

        // 1004 soft timeout served stale, then 1002 hard timeout (fail-safe again).
        time.Advance(TimeSpan.FromSeconds(2));
        var started = T.Gate();
        var call = cache.GetOrSetAsync("price:1", async ct => { started.TrySetResult(); await Task.Delay(Timeout.Infinite, ct); return 2; }, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await T.Soon(call));
        time.Advance(TimeSpan.FromSeconds(2));
        await T.Until(() => cache.Diagnostics.FlightCount == 0, "timed-out flight finished");

        // 1006 fenced result dropped.
        var release = T.Gate();
        var fenced = cache.GetOrSetAsync("price:2", async _ => { await release.Task; return 2; }, cancellationToken: T.Ct).AsTask();
        await cache.InvalidateAsync("price:2", T.Ct);
        release.SetResult();
        await T.Soon(fenced);

        var records = provider.Collector.GetSnapshot();
        var ids = records.Select(r => r.Id.Id).ToHashSet();
        Assert.Superset(new HashSet<int> { 1001, 1002, 1003, 1004, 1006 }, ids);
        var failed = records.First(r => r.Id.Id == 1001);
        Assert.Equal(LogLevel.Warning, failed.Level);
        Assert.Equal("down", failed.Exception?.Message);
        Assert.Contains("price:1", failed.Message, StringComparison.Ordinal);
        Assert.All(records, r => Assert.Equal("Coherent", r.Category));
    }
}
