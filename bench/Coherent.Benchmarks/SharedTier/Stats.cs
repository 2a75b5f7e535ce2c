using System.Globalization;

namespace Coherent.Benchmarks.SharedTier;

internal static class Stats
{
    public static string Ms(double value) => double.IsNaN(value) ? "–" : value.ToString(value < 10 ? "F3" : "F1", CultureInfo.InvariantCulture);

    public static string Machine()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0..3] : ["?"];
        return $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {string.Join(' ', load)}, " +
            $".NET {Environment.Version}, StackExchange.Redis {SharedNodes.RedisClientVersion}, thread pool min {workers}/{io}";
    }

    /// <summary>Per step: the mean of each measured round's block, the ratio to step 0's block of the same round, bytes per op.</summary>
    public sealed record Interleaved(List<double>[] Means, List<double>[] Paired, double[] Bytes);

    /// <summary>
    /// Runs every step's block of <paramref name="ops"/> sequential operations in turn, round after round (the first
    /// <paramref name="warmupRounds"/> unrecorded), so each step is compared with the baseline (step 0) measured minutes apart
    /// at most, not a whole run apart.
    /// </summary>
    public static async Task<Interleaved> InterleaveAsync(IReadOnlyList<(string Name, Func<Task> Op)> steps, int rounds, int ops, int warmupRounds)
    {
        var means = steps.Select(_ => new List<double>()).ToArray();
        var paired = steps.Select(_ => new List<double>()).ToArray();
        var bytes = new double[steps.Count];
        for (var round = -warmupRounds; round < rounds; round++)
        {
            for (var s = 0; s < steps.Count; s++)
            {
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var watch = System.Diagnostics.Stopwatch.StartNew();
                for (var i = 0; i < ops; i++)
                {
                    await steps[s].Op();
                }

                var mean = watch.Elapsed.TotalMicroseconds / ops;
                if (round >= 0)
                {
                    means[s].Add(mean);
                    paired[s].Add(mean / means[0][^1]);
                    bytes[s] += (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)ops / rounds;
                }
            }
        }

        return new Interleaved(means, paired, bytes);
    }
}
