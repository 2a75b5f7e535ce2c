using System.Diagnostics;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// The warm bulk cases' rounds, one home for redis-bulk and memcached-bulk: every round's keys are written first, then read
/// round by round (in blocks of 50 rounds), the cases interleaved, with nothing else running. The writes' invalidation frames thus reach the reader
/// long before its reads (a list page reads keys written earlier, not while their frames are in flight), and no idle wait
/// between a write and its read lets the pool's threads go to sleep; both had distorted the single hit more than the batch.
/// </summary>
internal static class BulkRounds
{
    public const int WarmUpRounds = 3;

    private const int BlockRounds = 50;

    /// <summary>Microseconds of each measured round's read, per case.</summary>
    public static async Task<List<double>[]> MeasureAsync((string Name, Func<string[], Task> Write, Func<string[], Task> Read)[] cases, int rounds, int keys)
    {
        string[] KeysOf(int c, int round) => [.. Enumerable.Range(0, keys).Select(i => $"product:{c}-{round}-{i}")];
        var times = cases.Select(_ => new List<double>()).ToArray();

        // In blocks of rounds, so a store with bounded memory (memcached's default 64 MB) still holds every key of the block.
        for (var first = -WarmUpRounds; first < rounds; first += BlockRounds)
        {
            var end = Math.Min(rounds, first + BlockRounds);
            for (var round = first; round < end; round++)
            {
                for (var c = 0; c < cases.Length; c++)
                {
                    await cases[c].Write(KeysOf(c, round));
                }
            }

            await Task.Delay(500);
            for (var round = first; round < end; round++)
            {
                for (var c = 0; c < cases.Length; c++)
                {
                    var started = Stopwatch.GetTimestamp();
                    await cases[c].Read(KeysOf(c, round));
                    if (round >= 0)
                    {
                        times[c].Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
                    }
                }
            }
        }

        return times;
    }

    /// <summary>The warm cases' table: median and min of each, and its median against the first case's (one L2 hit).</summary>
    public static void Print((string Name, Func<string[], Task> Write, Func<string[], Task> Read)[] cases, List<double>[] times, string store)
    {
        var baseline = Percentiles.Of(times[0], 50);
        Console.WriteLine();
        Console.WriteLine($"| Warm case (keys in {store}, not in the reader's L1) | Median (µs) | Min (µs) | × one L2 hit (medians) |");
        Console.WriteLine("|---|---:|---:|---:|");
        for (var c = 0; c < cases.Length; c++)
        {
            var median = Percentiles.Of(times[c], 50);
            Console.WriteLine($"| {cases[c].Name} | {median:F0} | {times[c].Min():F0} | {median / baseline:F2}× |");
        }
    }

    /// <summary>A case's write of a round's keys, all issued before any is awaited.</summary>
    public static Task WriteAll(string[] keys, Func<string, Task> write) => Task.WhenAll(keys.Select(write));

    /// <summary>A bulk call's answer holds every key asked for.</summary>
    public static void Check(int keys, IReadOnlyDictionary<string, Product> values)
    {
        if (values.Count != keys)
        {
            throw new InvalidOperationException($"expected {keys} values, got {values.Count}");
        }
    }

    /// <summary>
    /// Cold: keys nobody has, one batch factory of 50 ms a round; the total, and the time before the factory (reads, leases,
    /// versions) and after it (stores, wake-ups). Warm-up rounds first: the cold path's code runs as the tiered JIT's
    /// unoptimized tier 0 until it has been called often enough and the JIT's delay has passed (2-3 s of rounds here); a
    /// server's steady state is the optimized code, so the warm-up rounds are reported apart.
    /// </summary>
    public static async Task MeasureColdAsync(CoherentCache reader, int rounds, int keys)
    {
        const int WarmUpColdRounds = 40;
        var factoryTime = TimeSpan.FromMilliseconds(50);
        var calls = 0;
        var (cold, before, after, warmUp) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        for (var round = -WarmUpColdRounds; round < rounds; round++)
        {
            var names = Enumerable.Range(0, keys).Select(i => $"product:cold-{round}-{i}").ToArray();
            var started = Stopwatch.GetTimestamp();
            long entered = 0, returned = 0;
            var values = await reader.GetOrSetManyAsync<Product>(names, async (asked, ct) =>
            {
                Interlocked.Increment(ref calls);
                entered = Stopwatch.GetTimestamp();
                await Task.Delay(factoryTime, ct);
                var result = asked.ToDictionary(k => k, _ => Product.Sample(2));
                returned = Stopwatch.GetTimestamp();
                return result;
            });
            var ended = Stopwatch.GetTimestamp();
            Check(keys, values);
            if (round < 0)
            {
                warmUp.Add(Stopwatch.GetElapsedTime(started, ended).TotalMilliseconds);
                continue;
            }

            cold.Add(Stopwatch.GetElapsedTime(started, ended).TotalMilliseconds);
            before.Add(Stopwatch.GetElapsedTime(started, entered).TotalMilliseconds);
            after.Add(Stopwatch.GetElapsedTime(returned, ended).TotalMilliseconds);
        }

        var all = cold.Count + WarmUpColdRounds;
        Console.WriteLine();
        Console.WriteLine($"Cold: {keys} keys, {factoryTime.TotalMilliseconds:F0} ms batch factory, {cold.Count} measured rounds: factory calls {calls} in {all} rounds ({(double)calls / all:F1} a round), total median {Percentiles.Of(cold, 50):F1} ms, min {cold.Min():F1}, max {cold.Max():F1} ms; before the factory (reads, leases, versions) median {Percentiles.Of(before, 50):F1} ms, after it (stores) {Percentiles.Of(after, 50):F1} ms; the {WarmUpColdRounds} warm-up rounds before them: median {Percentiles.Of(warmUp, 50):F1} ms");
    }
}
