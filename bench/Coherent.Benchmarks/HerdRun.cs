using System.Diagnostics;
using BitFaster.Caching;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.Benchmarks;

/// <summary>
/// Case 4 (console mode <c>herd</c>): 1,000 concurrent callers on one cold key whose factory takes 50 ms. All callers are
/// queued behind one gate and released at once; the run counts factory executions and measures the time from the gate
/// opening to the last caller getting its value. One unmeasured warm-up round per peer (JIT), then
/// <c>rounds</c> measured rounds (default 5), each on a fresh key.
/// </summary>
internal static class HerdRun
{
    private const int Callers = 1_000;
    private static readonly TimeSpan FactoryTime = TimeSpan.FromMilliseconds(50);

    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 5;
        ThreadPool.GetMinThreads(out var minWorkers, out var minIo);
        Console.WriteLine($"Herd: {Callers} concurrent callers, cold key, {FactoryTime.TotalMilliseconds} ms factory, {rounds} rounds; {Environment.ProcessorCount} cores, thread pool min {minWorkers}/{minIo}");
        Console.WriteLine();
        Console.WriteLine("| Peer | Factory runs per round (min–max) | Total time, median (ms) | Total time, min–max (ms) |");
        Console.WriteLine("|---|---:|---:|---:|");

        var memory = Peers.MemoryCache();
        await Report("MemoryCache.GetOrCreateAsync", rounds, (key, factory) =>
            memory.GetOrCreateAsync(key, async e => { e.AbsoluteExpirationRelativeToNow = Peers.Expiry; return await factory(); })!);

        var lru = new ConcurrentLruBuilder<string, string>().WithCapacity(10_000).AsAsyncCache().Build();
        await Report("BitFaster ConcurrentLru.GetOrAddAsync", rounds, (key, factory) => lru.GetOrAddAsync(key, _ => factory()).AsTask());

        var atomicLru = new ConcurrentLruBuilder<string, string>().WithCapacity(10_000).AsAsyncCache().WithAtomicGetOrAdd().Build();
        await Report("BitFaster ConcurrentLru (atomic).GetOrAddAsync", rounds, (key, factory) => atomicLru.GetOrAddAsync(key, _ => factory()).AsTask());

        using var fusion = Peers.Fusion();
        await Report("FusionCache.GetOrSetAsync", rounds, (key, factory) => fusion.GetOrSetAsync<string>(key, async (_, _) => await factory()).AsTask());

        var (hybrid, services) = Peers.Hybrid();
        await using (services)
        {
            await Report("HybridCache.GetOrCreateAsync", rounds, (key, factory) => hybrid.GetOrCreateAsync(key, factory, static async (f, _) => await f()).AsTask());
        }

        await using var coherent = Peers.Coherent();
        await Report("Coherent.GetOrSetAsync", rounds, (key, factory) => coherent.GetOrSetAsync(key, factory, static async (f, _) => await f()).AsTask());
        memory.Dispose();
    }

    private static async Task Report(string name, int rounds, Func<string, Func<Task<string>>, Task<string>> get)
    {
        await RoundAsync($"herd:warmup:{name}", get);
        var runs = new List<int>();
        var times = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            var (count, ms) = await RoundAsync($"herd:{i}:{name}", get);
            runs.Add(count);
            times.Add(ms);
        }

        times.Sort();
        Console.WriteLine($"| {name} | {runs.Min()}–{runs.Max()} | {times[times.Count / 2]:F1} | {times[0]:F1}–{times[^1]:F1} |");
    }

    private static async Task<(int Runs, double Ms)> RoundAsync(string key, Func<string, Func<Task<string>>, Task<string>> get)
    {
        var runs = 0;
        Func<Task<string>> factory = async () =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(FactoryTime);
            return "value";
        };
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callers = new Task<string>[Callers];
        for (var i = 0; i < Callers; i++)
        {
            callers[i] = Task.Run(async () =>
            {
                await gate.Task;
                return await get(key, factory);
            });
        }

        await Task.Delay(100); // let every caller reach the gate
        var watch = Stopwatch.StartNew();
        gate.SetResult();
        var results = await Task.WhenAll(callers);
        watch.Stop();
        if (results.Any(v => v != "value"))
        {
            throw new InvalidOperationException("A caller got a wrong value.");
        }

        return (runs, watch.Elapsed.TotalMilliseconds);
    }
}
