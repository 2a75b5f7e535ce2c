using System.Runtime.CompilerServices;
using BitFaster.Caching.Lfu;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Memory;

namespace Coherent.Benchmarks;

/// <summary>
/// Console mode <c>memory</c>: heap per resident entry. Each peer is built with room for <see cref="Keys"/> entries and
/// given every key once (the keys are built beforehand and all entries share one value, so neither is counted); the figure
/// is the heap after a full collection with the filled cache alive, minus the heap before it was built, divided by the
/// key count — the peer's whole cost (its map, its policy, its sketch and buffers) per entry. Peers run alternately,
/// <see cref="Rounds"/> rounds each, in one process; the median is shown. Coherent is measured twice: filled to capacity,
/// and after one eviction (one key more was written), when its admission doorkeeper exists too (it is created on the
/// first eviction) — still 50,000 resident.
/// </summary>
internal static class MemoryRun
{
    private const int Keys = 50_000;
    private const int Rounds = 5;
    private static readonly string SharedValue = "shared-value";

    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : Rounds;
        var keys = Peers.Keys("bench", Keys);
        var peers = new (string Name, Func<string[], ValueTask<object>> Build)[]
        {
            ("Coherent L1", k => BuildCoherentAsync(k, evictOnce: false)),
            ("Coherent L1, after an eviction", k => BuildCoherentAsync(k, evictOnce: true)),
            ("BitFaster ConcurrentLfu", k => Fill(new ConcurrentLfu<string, string>(Keys), k, static (c, key) => c.GetOrAdd(key, static _ => SharedValue), static c => c.DoMaintenance())),
            ("BitFaster ConcurrentTLru", k => Fill(new ConcurrentTLru<string, string>(Keys, Peers.Expiry), k, static (c, key) => c.GetOrAdd(key, static _ => SharedValue), null)),
            ("MemoryCache", k => Fill(new MemoryCache(new MemoryCacheOptions()), k, static (c, key) => c.Set(key, SharedValue, Peers.Expiry), null)),
        };

        Console.WriteLine($"Heap per resident entry: {Keys:N0} keys, one shared value, GC.GetTotalMemory(true) after minus before; {rounds} rounds, peers alternating");
        Console.WriteLine();
        var samples = peers.ToDictionary(p => p.Name, _ => new List<double>());
        for (var round = 0; round < rounds; round++)
        {
            foreach (var (name, build) in peers)
            {
                samples[name].Add(await MeasureAsync(keys, build));
            }
        }

        var lfu = Median(samples["BitFaster ConcurrentLfu"]);
        Console.WriteLine("| Peer | Bytes per entry, median | Range | Relative to ConcurrentLfu |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (name, _) in peers)
        {
            var s = samples[name];
            Console.WriteLine($"| {name} | {Median(s):F1} B | {s.Min():F1}–{s.Max():F1} B | {Median(s) / lfu:F2}× |");
        }
    }

    private static async Task<double> MeasureAsync(string[] keys, Func<string[], ValueTask<object>> build)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var cache = await build(keys);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(cache);
        switch (cache)
        {
            case IAsyncDisposable asyncDisposable:
                await asyncDisposable.DisposeAsync();
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }

        return (double)(after - before) / keys.Length;
    }

    private static async ValueTask<object> BuildCoherentAsync(string[] keys, bool evictOnce)
    {
        var cache = Peers.Coherent(Keys);
        if (evictOnce)
        {
            await cache.SetAsync("bench:extra", SharedValue);
        }

        foreach (var key in keys)
        {
            await cache.SetAsync(key, SharedValue);
        }

        if (cache.LocalCount != keys.Length)
        {
            throw new InvalidOperationException($"Coherent kept {cache.LocalCount} of {keys.Length} keys.");
        }

        return cache;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ValueTask<object> Fill<TCache>(TCache cache, string[] keys, Action<TCache, string> add, Action<TCache>? settle)
        where TCache : notnull
    {
        foreach (var key in keys)
        {
            add(cache, key);
        }

        settle?.Invoke(cache);
        return new ValueTask<object>(cache);
    }

    private static double Median(List<double> values)
    {
        var ordered = values.Order().ToList();
        return ordered[ordered.Count / 2];
    }
}
