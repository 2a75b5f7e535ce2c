using System.Diagnostics;
using ZiggyCreatures.Caching.Fusion;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// Shared-tier case 3 (console mode <c>redis-herd</c>): a fleet of 4 nodes (each its own connection to the same throwaway
/// redis-server) × 100 concurrent callers on one cold key whose factory takes 50 ms. All 400 callers wait behind one gate and
/// are released at once; the round counts factory runs across the fleet and measures the time from the gate opening to the
/// last caller holding the value. Two unmeasured warm-up rounds per peer, then <c>rounds</c> measured rounds (default 7),
/// each on a fresh key.
/// </summary>
internal static class FleetHerdRun
{
    internal const int Nodes = 4;
    internal const int CallersPerNode = 100;
    private static readonly TimeSpan FactoryTime = TimeSpan.FromMilliseconds(50);

    internal delegate Task<Product> Get(int node, string key, Func<Task<Product>> factory);

    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 7;
        var only = args.Length > 1 ? args[1] : null; // run only the peers whose name contains this (diagnostics)
        await using var server = await RedisProcess.StartNewAsync();
        Console.WriteLine($"Fleet herd: {Nodes} nodes × {CallersPerNode} concurrent callers, cold key, {FactoryTime.TotalMilliseconds:F0} ms factory, {rounds} rounds; redis-server 127.0.0.1:{server.Port} (pid {server.Pid})");
        Console.WriteLine(Stats.Machine());
        Console.WriteLine();
        Console.WriteLine("| Peer | Factory runs per round (min–max) | Total time, median (ms) | Total time, min–max (ms) |");
        Console.WriteLine("|---|---:|---:|---:|");

        if (Selected("Coherent", only))
        {
            var nodes = Enumerable.Range(0, Nodes).Select(_ => SharedNodes.Coherent(server.Endpoint, "bench-herd")).ToArray();
            await Task.Delay(500); // subscriptions live
            await Report("Coherent (lease + fill notice)", rounds, (n, key, factory) => nodes[n].GetOrSetAsync(key, factory, static async (f, _) => await f()).AsTask());
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }

        foreach (var locker in new[] { true, false }.Where(_ => Selected("FusionCache", only)))
        {
            var nodes = Enumerable.Range(0, Nodes).Select(_ => SharedNodes.Fusion(server.Endpoint, locker ? "bench-herd-locker" : "bench-herd", locker)).ToArray();
            await Task.Delay(500);
            await Report(locker ? "FusionCache (L2 + backplane + distributed locker)" : "FusionCache (L2 + backplane, no locker)", rounds,
                (n, key, factory) => nodes[n].Cache.GetOrSetAsync<Product>(key, async (_, _) => await factory()).AsTask());
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }

        if (Selected("HybridCache", only))
        {
            var nodes = Enumerable.Range(0, Nodes).Select(_ => SharedNodes.Hybrid(server.Endpoint, "bench-herd")).ToArray();
            await Report("HybridCache (L2)", rounds, (n, key, factory) => nodes[n].Cache.GetOrCreateAsync(key, factory, static async (f, _) => await f()).AsTask());
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }

        Console.WriteLine();
        Console.WriteLine("Total time: from releasing the 400 callers to the last one holding the value (factory alone: 50 ms).");
    }

    private static bool Selected(string peer, string? only) => only is null || peer.Contains(only, StringComparison.OrdinalIgnoreCase);

    /// <summary>Two warm-up rounds, then <paramref name="rounds"/> measured ones on fresh keys: one table row (also used by <c>memcached-herd</c>).</summary>
    internal static async Task Report(string name, int rounds, Get get)
    {
        var run = Guid.NewGuid().ToString("N")[..6];
        await RoundAsync($"product:herd:{run}:warmup0", get);
        await RoundAsync($"product:herd:{run}:warmup1", get); // the first measured round was often still on unoptimized code
        var runs = new List<int>();
        var times = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            var (count, ms) = await RoundAsync($"product:herd:{run}:{i}", get);
            runs.Add(count);
            times.Add(ms);
        }

        if (Environment.GetEnvironmentVariable("COHERENT_BENCH_VERBOSE") == "1")
        {
            Console.Error.WriteLine($"{name}: rounds (runs/ms) {string.Join(", ", runs.Zip(times, (n, ms) => $"{n}/{ms:F1}"))}");
        }

        Console.WriteLine($"| {name} | {runs.Min()}–{runs.Max()} | {Stats.Ms(Percentiles.Of(times, 50))} | {Stats.Ms(times.Min())}–{Stats.Ms(times.Max())} |");
    }

    private static async Task<(int Runs, double Ms)> RoundAsync(string key, Get get)
    {
        var runs = 0;
        Func<Task<Product>> factory = async () =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(FactoryTime);
            return Product.Sample(7);
        };
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callers = new Task<Product>[Nodes * CallersPerNode];
        for (var i = 0; i < callers.Length; i++)
        {
            var node = i % Nodes;
            callers[i] = Task.Run(async () =>
            {
                await gate.Task;
                return await get(node, key, factory);
            });
        }

        await Task.Delay(100); // every caller waits at the gate
        var watch = Stopwatch.StartNew();
        gate.SetResult();
        var results = await Task.WhenAll(callers);
        watch.Stop();
        if (results.Any(p => p.Id != 7))
        {
            throw new InvalidOperationException("A caller got a wrong value.");
        }

        return (runs, watch.Elapsed.TotalMilliseconds);
    }
}
