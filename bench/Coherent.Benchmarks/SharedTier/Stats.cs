using System.Globalization;

namespace Coherent.Benchmarks.SharedTier;

internal static class Stats
{
    /// <summary>Nearest-rank percentile of <paramref name="values"/> (p in 0..100).</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static string Ms(double value) => double.IsNaN(value) ? "–" : value.ToString(value < 10 ? "F3" : "F1", CultureInfo.InvariantCulture);

    public static string Machine()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0..3] : ["?"];
        return $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {string.Join(' ', load)}, " +
            $".NET {Environment.Version}, StackExchange.Redis {SharedNodes.RedisClientVersion}, thread pool min {workers}/{io}";
    }
}
