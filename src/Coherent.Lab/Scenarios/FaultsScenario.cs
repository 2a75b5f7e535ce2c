using System.Globalization;
using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;
using Coherent.Testing;

namespace Coherent.Lab.Scenarios;

/// <summary>
/// Issue 5's proof as a lab scenario: the history run (3 families, N nodes, SQLite source of truth) under the fault schedule,
/// against the lab's own redis-server processes (so it can pause, kill and partition them), then a short run on a
/// 3-master + 3-replica cluster with a failover. Every read is judged by <see cref="HistoryChecker"/>.
/// </summary>
internal sealed class FaultsScenario : IScenario
{
    public string Name => "faults";

    public async Task<ScenarioResult> RunAsync(LabEnvironment env, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult(Name, "Faults: does the staleness bound hold when Redis misbehaves?",
            "A bound that holds only on a good day is not a contract. Every read is checked against the database's history while the bus and the server are broken on purpose.");
        var duration = env.Options.Quick ? TimeSpan.FromSeconds(6) : TimeSpan.FromSeconds(Math.Max(9, env.Options.Duration.TotalSeconds));
        var table = new ResultTable("Worst staleness per fault (bound: MaxStaleness 1 s once the writer's call returned; Ttl 8 s while a failed invalidation is retried)",
            "run", "fault", "injected", "stale reads", "worst staleness", "worst, failed invalidation", "within bound");
        var totals = new ResultTable("Runs", "run", "operations", "reads checked", "stale reads", "read errors", "violations", "nothing lost");
        var chart = new Chart("Worst staleness per fault (ms)", ChartKind.Bar, "fault", "ms");
        if (!RedisProcess.Available)
        {
            result.Notes.Add("redis-server is not installed: the fault run needs real processes to pause and kill (apt-get install redis-server). Ran without faults against the lab's server instead.");
        }

        var runs = new List<(string Name, Func<Task<HistoryResult>> Run)>();
        if (RedisProcess.Available)
        {
            runs.Add(("standalone", async () =>
            {
                await using var server = await RedisProcess.StartNewAsync();
                return await HistoryRun.RunAsync(Options(env, duration, HistoryRunOptions.StandaloneSchedule(duration)), server, null, cancellationToken);
            }));
            runs.Add(("cluster 3+3", async () =>
            {
                await using var cluster = await RedisCluster.StartAsync(replicasPerMaster: 1);

                // Quick: failover and pub/sub kill only (a killed master takes the 2 s node timeout plus an election).
                var clusterDuration = env.Options.Quick ? TimeSpan.FromSeconds(4) : TimeSpan.FromSeconds(Math.Max(12, duration.TotalSeconds / 2));
                var schedule = HistoryRunOptions.ClusterSchedule(clusterDuration, killMaster: !env.Options.Quick);
                return await HistoryRun.RunAsync(Options(env, clusterDuration, schedule), null, cluster.Endpoints, cancellationToken, cluster.Nodes);
            }));
        }
        else if (env.Endpoint is { } endpoint)
        {
            runs.Add(("no faults (lab server)", () => HistoryRun.RunAsync(Options(env, duration, []), new ExternalServer(endpoint), null, cancellationToken)));
        }

        foreach (var (name, run) in runs)
        {
            env.Progress($"faults: {name}");
            HistoryResult r;
            try
            {
                r = await run();
            }
            catch (InvalidOperationException ex)
            {
                result.Notes.Add($"{name}: could not run ({ex.Message}).");
                continue;
            }

            env.Output.WriteLine(r.Summary());
            var ok = r.Check.ViolationCount == 0 && r.Lost == 0;
            result.Passed &= ok;
            foreach (var f in r.Check.ByFault)
            {
                table.Add(name, f.Kind.ToString(), f.Injected.ToString(CultureInfo.InvariantCulture), f.StaleReads.ToString(CultureInfo.InvariantCulture),
                    Samples.Ms(f.WorstStaleMs), f.WorstUnboundedMs > 0 ? Samples.Ms(f.WorstUnboundedMs) : "-", f.WorstStaleMs <= 1050 ? "yes" : "NO");
                chart.Series.Add(new Series($"{name}: {f.Kind}", [(0, f.WorstStaleMs)]));
            }

            totals.Add(name, r.Operations.ToString(CultureInfo.InvariantCulture), r.Check.ReadsChecked.ToString(CultureInfo.InvariantCulture),
                r.Check.StaleReads.ToString(CultureInfo.InvariantCulture), r.Check.ErrorsByType.Values.Sum().ToString(CultureInfo.InvariantCulture),
                r.Check.ViolationCount.ToString(CultureInfo.InvariantCulture), r.Lost == 0 ? "yes" : $"NO ({r.Lost})");
            result.Notes.AddRange(r.Check.Violations.Select(v => $"{name}: {v}"));
        }

        result.Tables.Add(table);
        result.Tables.Add(totals);
        result.Charts.Add(chart);
        result.Notes.Add("Stale read: a later version was committed and the writer's InvalidateAsync / SetAsync / InvalidateTagAsync had returned before the read began; staleness = read end − that return. Read errors are the injected factory failures and timeouts (families without fail-safe), never Redis errors.");
        return result;
    }

    private static HistoryRunOptions Options(LabEnvironment env, TimeSpan duration, IReadOnlyList<ScheduledFault> faults) => new()
    {
        Nodes = Math.Max(2, env.Options.Nodes),
        Duration = duration,
        Faults = faults,
        Progress = env.Progress,
    };

    /// <summary>A server the lab cannot break (given with --redis, or embedded): runs without faults.</summary>
    private sealed class ExternalServer(string endpoint) : IFaultableServer
    {
        public string Endpoint => endpoint;

        public void Pause() => throw new NotSupportedException();

        public void Resume() => throw new NotSupportedException();

        public void Kill() => throw new NotSupportedException();

        public Task StartAsync() => throw new NotSupportedException();
    }
}
