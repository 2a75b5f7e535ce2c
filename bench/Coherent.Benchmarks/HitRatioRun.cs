using BitFaster.Caching.Lfu;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Memory;

namespace Coherent.Benchmarks;

/// <summary>
/// Case 5 (console mode <c>hitratio</c>): hit ratio of bounded caches (capacity 1,000) on one deterministic trace:
/// 1,000,000 accesses drawn from Zipf(0.9) over 100,000 keys (seed 42; ranks mapped to keys by a seeded shuffle), with a
/// one-off scan of 50,000 distinct keys that are never read again inserted at the midpoint. Each peer reads the trace
/// through its get-or-create entry point on one thread; a factory run is a miss. Peers run as shipped (default
/// maintenance scheduling), so figures move by up to a point between runs: 15 runs per peer, median shown (with 7, the
/// difference of two peers' medians moved by ±0.7 points between invocations). Optional arguments: the runs per peer, and
/// a word the peers' names must contain (e.g. <c>hitratio 3 Coherent</c>, for quick iterations).
/// </summary>
internal static class HitRatioRun
{
    private const int Capacity = 1_000;
    private const int Universe = 100_000;
    private const int ZipfAccesses = 1_000_000;
    private const int ScanLength = 50_000;
    private const double Skew = 0.9;
    private const int Seed = 42;
    private const int DefaultRuns = 15;
    private static int Runs = DefaultRuns;
    private static string? Only;

    public static async Task RunAsync(string[] args)
    {
        Runs = args.Length > 0 && int.TryParse(args[0], out var runs) ? runs : DefaultRuns;
        Only = args.Length > 1 ? args[1] : null;
        var (trace, keys) = BuildTrace();
        Console.WriteLine($"Hit ratio: capacity {Capacity:N0}, Zipf({Skew}) over {Universe:N0} keys, {ZipfAccesses:N0} accesses + one {ScanLength:N0}-key scan at the midpoint, seed {Seed}");
        Console.WriteLine();
        Console.WriteLine($"Each peer: {Runs} runs on a fresh cache; median shown, with the range.");
        Console.WriteLine();
        Console.WriteLine("| Peer | Hit ratio, median | Range | Hit ratio (Zipf accesses only), median run | Misses, median run |");
        Console.WriteLine("|---|---:|---:|---:|---:|");

        Report("BitFaster ConcurrentLfu", trace, keys, () =>
        {
            var lfu = new ConcurrentLfu<string, string>(Capacity);
            return key => { var missed = false; lfu.GetOrAdd(key, k => { missed = true; return k; }); return missed; };
        });
        Report("BitFaster ConcurrentLru", trace, keys, () =>
        {
            var lru = new ConcurrentLru<string, string>(Capacity);
            return key => { var missed = false; lru.GetOrAdd(key, k => { missed = true; return k; }); return missed; };
        });
        Report("MemoryCache (SizeLimit)", trace, keys, () =>
        {
            var memory = Peers.MemoryCache(Capacity);
            return key =>
            {
                if (memory.TryGetValue(key, out _))
                {
                    return false;
                }

                memory.Set(key, key, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = Peers.Expiry });
                return true;
            };
        });

        var built = new List<CoherentCache>();
        Report("Coherent", trace, keys, () =>
        {
            var coherent = Peers.Coherent(Capacity);
            built.Add(coherent);
            var missed = new StrongBox<bool>();
            return key =>
            {
                missed.Value = false;
                Peers.Sync(coherent.GetOrSetAsync(key, missed, static (m, _) => { m.Value = true; return new ValueTask<string>("v"); }));
                return missed.Value;
            };
        });
        foreach (var coherent in built)
        {
            await coherent.DisposeAsync();
        }
    }

    private static void Report(string name, int[] trace, string[] keys, Func<Func<string, bool>> create)
    {
        if (Only is not null && !name.Contains(Only, StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var results = new List<(double Whole, double Zipf, long Misses)>();
        for (var run = 0; run < Runs; run++)
        {
            results.Add(RunOnce(trace, keys, create()));
        }

        var ordered = results.OrderBy(r => r.Whole).ToList();
        var median = ordered[ordered.Count / 2];
        Console.WriteLine($"| {name} | {median.Whole:F2} % | {ordered[0].Whole:F2}–{ordered[^1].Whole:F2} % | {median.Zipf:F2} % | {median.Misses:N0} |");
    }

    private static (double Whole, double Zipf, long Misses) RunOnce(int[] trace, string[] keys, Func<string, bool> read)
    {
        long misses = 0, zipfMisses = 0, zipfTotal = 0;
        foreach (var id in trace)
        {
            var missed = read(keys[id]);
            if (missed)
            {
                misses++;
            }

            if (id < Universe)
            {
                zipfTotal++;
                if (missed)
                {
                    zipfMisses++;
                }
            }
        }

        var whole = 100.0 * (trace.Length - misses) / trace.Length;
        var zipf = 100.0 * (zipfTotal - zipfMisses) / zipfTotal;
        return (whole, zipf, misses);
    }

    /// <summary>Key ids: 0..Universe-1 for the Zipf keys, Universe.. for the scan.</summary>
    private static (int[] Trace, string[] Keys) BuildTrace()
    {
        var random = new Random(Seed);
        var zipf = new Zipf(Universe, Skew);
        var idOfRank = Enumerable.Range(0, Universe).ToArray();
        random.Shuffle(idOfRank);
        var trace = new int[ZipfAccesses + ScanLength];
        var t = 0;
        for (var n = 0; n < ZipfAccesses; n++)
        {
            if (n == ZipfAccesses / 2)
            {
                for (var s = 0; s < ScanLength; s++)
                {
                    trace[t++] = Universe + s;
                }
            }

            trace[t++] = idOfRank[zipf.Next(random) - 1];
        }

        var keys = Enumerable.Range(0, Universe + ScanLength).Select(i => $"z:{i}").ToArray();
        return (trace, keys);
    }

    private sealed class StrongBox<T>
    {
        public T? Value;
    }
}
