using System.Diagnostics;

namespace Coherent.Benchmarks;

/// <summary>
/// Console mode <c>hybrid-hit</c>: the three cases of <see cref="HybridAdapterBenchmarks"/> and
/// <see cref="HybridDispatchBenchmarks"/> timed in alternation in one process (Coherent's hit, the adapter's hit, the
/// dispatch floor), so that load from other processes falls on all three alike; the ratio is taken per round and its
/// median printed. For a shared, busy machine, where BenchmarkDotNet's sequential cases can land in different load phases.
/// </summary>
public static class HybridHitRun
{
    public static void Run(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 31;
        const int passes = 200; // × 1,000 keys a measurement
        var adapter = new HybridAdapterBenchmarks();
        adapter.Setup();
        var dispatch = new HybridDispatchBenchmarks();
        var cases = new (string Name, Func<string?> Body)[]
        {
            ("Coherent.GetOrSetAsync", adapter.Coherent),
            ("HybridCache adapter GetOrCreateAsync", adapter.Adapter),
            ("HybridCache dispatch alone", dispatch.Dispatch),
        };
        var samples = cases.Select(_ => new List<double>()).ToArray();
        var ratios = new List<double>();
        for (var round = -3; round < rounds; round++) // three warm-up rounds, not recorded
        {
            var perOp = new double[cases.Length];
            for (var c = 0; c < cases.Length; c++)
            {
                var start = Stopwatch.GetTimestamp();
                for (var p = 0; p < passes; p++)
                {
                    cases[c].Body();
                }

                perOp[c] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / (passes * HitBenchmarks.KeyCount);
            }

            if (round >= 0)
            {
                for (var c = 0; c < cases.Length; c++)
                {
                    samples[c].Add(perOp[c]);
                }

                ratios.Add(perOp[1] / perOp[0]);
            }
        }

        adapter.Cleanup().GetAwaiter().GetResult();
        Console.WriteLine($"{rounds} rounds, {passes} x {HitBenchmarks.KeyCount} reads per case per round, alternating");
        for (var c = 0; c < cases.Length; c++)
        {
            Console.WriteLine($"{cases[c].Name,-40} min {samples[c].Min(),7:F2} ns   median {Median(samples[c]),7:F2} ns");
        }

        Console.WriteLine($"adapter / Coherent, per round: median {Median(ratios):F2}x, min {ratios.Min():F2}x, max {ratios.Max():F2}x");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
