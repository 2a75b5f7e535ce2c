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
            try
            {
                var value = await node.Cache.GetOrSetAsync(key, source.ReadAsync);

                // Measured when the value was served, not when the read began: a read that took long served it that late.
                var at = sinceChange.Elapsed.TotalMilliseconds;
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

    /// <summary>What <see cref="DroppedMessageAsync"/> saw: the probe's result and whether the receiver detected the gap.</summary>
    public sealed record DroppedMessageResult(Result Probe, bool Dropped, long GapsDetected);

    /// <summary>
    /// Two nodes on <paramref name="configuration"/>; B caches a key, then loses exactly the invalidation A publishes for it
    /// (the bus's dropped-message hook). Probes B until <paramref name="probeFor"/> after the invalidation.
    /// </summary>
    public static async Task<DroppedMessageResult> DroppedMessageAsync(string configuration, string prefix, TimeSpan probeFor, CancellationToken ct)
    {
        var drop = 0;
        await using var a = await Node.StartAsync(configuration, prefix);
        await using var b = await Node.StartAsync(configuration, prefix, o => o.DropIncomingMessage = m => m.StartsWith("I|", StringComparison.Ordinal) && Interlocked.Exchange(ref drop, 0) == 1);
        var source = new Source();
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:d", source.ReadAsync, cancellationToken: ct));

        Volatile.Write(ref drop, 1);
        var v = source.Bump();
        var since = Stopwatch.StartNew();
        await a.Cache.InvalidateAsync("item:d", ct);
        var result = await RunAsync(b, "item:d", source, v, since, probeFor);
        return new DroppedMessageResult(result, Volatile.Read(ref drop) == 0, b.Tier.Bus!.GapsDetected);
    }
}
