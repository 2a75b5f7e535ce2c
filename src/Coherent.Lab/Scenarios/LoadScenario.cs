using System.Globalization;
using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;
using Coherent.Testing;

namespace Coherent.Lab.Scenarios;

/// <summary>
/// Sustained mixed load (90 % reads) across the nodes on the shared Redis with latency percentiles and allocation per
/// operation, then the memory probe: millions of distinct keys through one cache, heap traced after full collections.
/// </summary>
internal sealed class LoadScenario : IScenario
{
    public string Name => "load";

    public async Task<ScenarioResult> RunAsync(LabEnvironment env, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult(Name, "Load: latency, allocation and memory under a sustained mixed workload",
            "A cache that leaks per-key state or allocates on every hit turns into the outage it was meant to prevent.");
        var duration = env.Options.Quick ? TimeSpan.FromSeconds(3) : env.Options.Duration;
        if (env.Endpoint is { } endpoint)
        {
            env.Progress($"load: {env.Options.Nodes} nodes, {duration.TotalSeconds:0} s, 90 % reads");
            var load = await LoadRun.RunAsync(new LoadRunOptions { Nodes = env.Options.Nodes, Duration = duration, Progress = env.Progress }, endpoint, cancellationToken);
            env.Output.WriteLine("   " + load.Summary());
            var table = new ResultTable($"{env.Options.Nodes} nodes x 2 workers, 20,000 keys (skewed), 90 % GetOrSetAsync / 5 % InvalidateAsync / 5 % SetAsync, {duration.TotalSeconds:0} s",
                "operation", "count", "p50", "p99", "p99.9", "ops/s", "allocated per op");
            table.Add("read", load.Reads.ToString(CultureInfo.InvariantCulture), Us(load.ReadLatency.PercentileUs(50)), Us(load.ReadLatency.PercentileUs(99)), Us(load.ReadLatency.PercentileUs(99.9)),
                load.OpsPerSecond.ToString("0", CultureInfo.InvariantCulture), load.AllocatedBytesPerOp.ToString("0", CultureInfo.InvariantCulture) + " B");
            table.Add("write", load.Writes.ToString(CultureInfo.InvariantCulture), Us(load.WriteLatency.PercentileUs(50)), Us(load.WriteLatency.PercentileUs(99)), Us(load.WriteLatency.PercentileUs(99.9)), "", "");
            result.Tables.Add(table);
            result.Passed &= load.Errors == 0;
        }

        var keys = env.Options.Quick ? 300_000L : 2_000_000L;
        env.Progress($"load: memory probe, {keys:N0} distinct keys through one cache");
        await using (var cache = new CoherentCacheBuilder().WithName("load-memory").Define("m", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5))).WithLocalCapacity(10_000).Build())
        {
            var points = await LoadRun.DistinctKeysAsync(cache, "m", keys, 4, 5, cancellationToken);
            var memory = new ResultTable("Live heap after full GCs while distinct keys stream through one cache (L1 capacity 10,000; every 8th key invalidated, every 16th tagged)", "distinct keys", "heap");
            foreach (var p in points)
            {
                memory.Add(p.DistinctKeys.ToString("N0", CultureInfo.InvariantCulture), (p.HeapBytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB");
            }

            var growth = points[^1].HeapBytes - points[1].HeapBytes;
            result.Notes.Add(string.Create(CultureInfo.InvariantCulture, $"Heap growth from the first checkpoint to the last: {growth / 1048576.0:0.0} MiB over {keys - points[1].DistinctKeys:N0} more distinct keys ({(double)growth / (keys - points[1].DistinctKeys):0.0} B per key)."));
            result.Passed &= growth < 16 * 1048576;
            result.Tables.Add(memory);
            result.Charts.Add(new Chart("Live heap (MiB) by distinct keys", ChartKind.Line, "distinct keys", "MiB")
            {
                Series = { new Series("heap", points.Select(p => ((double)p.DistinctKeys, p.HeapBytes / 1048576.0)).ToList()) },
            });
        }

        return result;
    }

    private static string Us(double us) => double.IsNaN(us) ? "-" : us.ToString(us < 100 ? "0.0" : "0", CultureInfo.InvariantCulture) + " µs";
}
