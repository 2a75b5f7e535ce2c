using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Guarantees 1, 2, 3, 5 and 6 of DESIGN.md as one history-based proof: three nodes read and write three families (invalidate,
/// versioned write-through, tags) over a SQLite source of truth while the fault schedule kills the bus subscription, pauses,
/// partitions and restarts Redis, and makes one node's factory throw and stall; every read is judged by the checker.
/// </summary>
public sealed class HistoryProofTests
{
    private static void Report(string what, HistoryResult result) =>
        TestContext.Current.SendDiagnosticMessage($"{what}: {result.Summary()}");

    [Fact]
    public async Task History_under_the_fault_schedule_stays_within_MaxStaleness_and_loses_nothing()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var duration = TimeSpan.FromSeconds(26);
        var options = new HistoryRunOptions { Duration = duration, Faults = HistoryRunOptions.StandaloneSchedule(duration) };

        var result = await HistoryRun.RunAsync(options, server, null, TestContext.Current.CancellationToken);

        Report("standalone, fault schedule", result);
        var check = result.Check;
        Assert.Equal(11, check.FaultsInjected);
        Assert.All(new[] { FaultKind.VersionMessagesDropped, FaultKind.NodeJoined, FaultKind.PartitionedSlowFactory, FaultKind.WallClockStepped },
            k => Assert.Equal(1, check.ByFault.Single(f => f.Kind == k).Injected));
        Assert.True(check.ReadsChecked > 3000, $"only {check.ReadsChecked} reads checked");
        Assert.True(check.Writes > 500, $"only {check.Writes} writes");
        Assert.True(check.ViolationCount == 0, check.Summary());
        Assert.True(result.Quiesced, "the fleet never quiesced (pending invalidations or an unhealthy bus after the faults)");
        Assert.True(result.Lost == 0, string.Join(Environment.NewLine, result.LostDetails));

        // The only read errors are the injected ones (the checker counts any other, a cancellation or a Redis exception
        // reaching a caller, as a violation); readers never cancel.
        Assert.All(check.ErrorsByType.Keys, e => Assert.Contains(e, new[] { nameof(InvalidOperationException), nameof(FactoryTimeoutException) }));
        Assert.True(check.ErrorsByType.GetValueOrDefault(nameof(InvalidOperationException)) > 0, "the throwing factory was never hit");
    }

    [Fact]
    public async Task History_on_a_healthy_bus_has_no_stale_read_past_a_few_milliseconds()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var options = new HistoryRunOptions { Duration = TimeSpan.FromSeconds(6) };

        var result = await HistoryRun.RunAsync(options, server, null, TestContext.Current.CancellationToken);

        Report("standalone, healthy", result);
        Assert.Equal(0, result.Check.ViolationCount);
        Assert.Equal(0, result.Check.FailedWrites);
        Assert.Empty(result.Check.ErrorsByType);
        Assert.True(result.Lost == 0, string.Join(Environment.NewLine, result.LostDetails));

        // Guarantee 1 through the history: a read that starts after the writer's call returned sees the new version on
        // every node, but for the propagation delay (target p99 5 ms; 50 ms of slack for a loaded 2-core machine).
        var worst = result.Check.ByFault.Single(f => f.Kind == FaultKind.None).WorstStaleMs;
        if (worst >= 50)
        {
            var late = result.Check.ByFamily.Where(f => f.Value.WorstMs >= 50).ToList();
            var detail = string.Join(", ", late.Select(f => $"{f.Key}: {f.Value.Stale} stale, worst {f.Value.WorstMs:F1} ms"));

            Assert.Fail($"healthy-bus staleness {worst:F1} ms ({detail})");
        }
    }

    [Fact]
    public async Task History_across_cluster_failover_and_a_killed_master_stays_within_MaxStaleness_and_loses_nothing()
    {
        RedisProcess.RequireInstalled();
        await using var cluster = await RedisCluster.StartAsync(replicasPerMaster: 1);
        var duration = TimeSpan.FromSeconds(12);
        var options = new HistoryRunOptions
        {
            Duration = duration,
            Faults =
            [
                new(FaultKind.ClusterFailover, TimeSpan.FromSeconds(2), TimeSpan.Zero),
                new(FaultKind.PubSubKilled, TimeSpan.FromSeconds(4), TimeSpan.Zero),
                new(FaultKind.ClusterMasterKilled, TimeSpan.FromSeconds(5.5), TimeSpan.Zero),
            ],
        };

        var result = await HistoryRun.RunAsync(options, null, cluster.Endpoints, TestContext.Current.CancellationToken, cluster.Nodes);

        Report("cluster 3 masters + 3 replicas, failovers", result);
        Assert.Equal(3, result.Check.FaultsInjected);
        Assert.True(result.Check.ViolationCount == 0, result.Check.Summary());
        Assert.True(result.Quiesced, "the fleet never quiesced (pending invalidations or an unhealthy bus after the faults)");
        Assert.True(result.Lost == 0, string.Join(Environment.NewLine, result.LostDetails));
        Assert.True(result.Check.ReadsChecked > 2000, $"only {result.Check.ReadsChecked} reads checked");
    }
}
