using System.Diagnostics;

namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>
/// Reads a key on a node in a loop after the source changed and measures the worst staleness served: how long after
/// the change the node still returned an older version. Also counts exceptions (there must be none).
/// </summary>
public static class StalenessProbe
{
    public sealed record Result(double WorstStaleMs, int Reads, int Errors, bool Converged);

    public static async Task<Result> RunAsync(Node node, string key, Source source, long newVersion, Stopwatch sinceChange, TimeSpan duration)
    {
        var worst = 0.0;
        var reads = 0;
        var errors = 0;
        var converged = false;
        while (sinceChange.Elapsed < duration)
        {
            var at = sinceChange.Elapsed.TotalMilliseconds;
            try
            {
                var value = await node.Cache.GetOrSetAsync(key, source.ReadAsync);
                reads++;
                if (value < newVersion)
                {
                    worst = Math.Max(worst, at);
                }
                else
                {
                    converged = true;
                }
            }
            catch (Exception)
            {
                errors++;
            }

            await Task.Delay(2);
        }

        return new Result(worst, reads, errors, converged);
    }
}
