using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using ZiggyCreatures.Caching.Fusion;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// Shared-tier case 2 (console mode <c>redis-propagation</c>): node A invalidates a key that node B holds in its L1; the lag is
/// the time from the start of A's invalidate call to the moment B no longer serves the old value from its L1. Two nodes per
/// peer, each on its own connection to the same throwaway redis-server; a fresh key per trial; unmeasured warm-up trials first.
/// <list type="bullet">
/// <item>Coherent: <c>InvalidateAsync</c> on A; spin on B's <c>Local.Peek</c> (the bus drops the entry from B's L1).</item>
/// <item>FusionCache: <c>RemoveAsync</c> on A; the backplane removes the entry from B's memory cache; spin on B's memory-only
/// <c>TryGet</c> (distributed read skipped).</item>
/// <item>HybridCache: <c>RemoveAsync</c> on A (its own L1 and Redis); there is no backplane, so B keeps serving its local copy
/// until its local expiration; polled every millisecond through a local-only read, bounded wait.</item>
/// </list>
/// </summary>
internal static class PropagationRun
{
    private static readonly FusionCacheEntryOptions FusionMemoryOnly = new FusionCacheEntryOptions().SetSkipDistributedCacheRead(true);
    private static readonly HybridCacheEntryOptions HybridLocalOnly = new() { Flags = HybridCacheEntryFlags.DisableDistributedCache | HybridCacheEntryFlags.DisableLocalCacheWrite };

    public static async Task RunAsync(string[] args)
    {
        var trials = args.Length > 0 && int.TryParse(args[0], out var t) ? t : 300;
        var hybridTrials = args.Length > 1 && int.TryParse(args[1], out var h) ? h : 5;
        var hybridShortLocal = TimeSpan.FromSeconds(1);
        var bound = TimeSpan.FromSeconds(2);

        await using var server = await RedisProcess.StartNewAsync();
        Console.WriteLine($"Invalidation propagation A → B: {trials} trials (Coherent, FusionCache), {hybridTrials} (HybridCache); redis-server 127.0.0.1:{server.Port} (pid {server.Pid})");
        Console.WriteLine(Stats.Machine());
        Console.WriteLine();
        Console.WriteLine("| Peer | Trials | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | Not converged within bound |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");

        await using (var a = SharedNodes.Coherent(server.Endpoint, "bench-prop"))
        await using (var b = SharedNodes.Coherent(server.Endpoint, "bench-prop"))
        {
            await Task.Delay(500); // both subscriptions live
            await Measure("Coherent (bus, InvalidateAsync → B's L1 drop)", trials, bound, async key =>
            {
                await b.GetOrSetAsync(key, static _ => ValueTask.FromResult(Product.Sample(1)));
                if (!b.Diagnostics.HasLocal(key))
                {
                    throw new InvalidOperationException("B did not keep the key in L1.");
                }
            }, key => a.InvalidateAsync(key).AsTask(), key => b.Diagnostics.HasLocal(key), spin: true);
        }

        await using (var a = SharedNodes.Fusion(server.Endpoint, "bench-prop"))
        await using (var b = SharedNodes.Fusion(server.Endpoint, "bench-prop"))
        {
            await Task.Delay(500);
            await Measure("FusionCache (backplane, RemoveAsync → B's memory drop)", trials, bound, async key =>
            {
                await b.Cache.GetOrSetAsync<Product>(key, static (_, _) => Task.FromResult(Product.Sample(1)));
                if (!b.Cache.TryGet<Product>(key, FusionMemoryOnly).HasValue)
                {
                    throw new InvalidOperationException("B did not keep the key in memory.");
                }
            }, key => a.Cache.RemoveAsync(key).AsTask(), key => b.Cache.TryGet<Product>(key, FusionMemoryOnly).HasValue, spin: true);
        }

        foreach (var local in new[] { SharedNodes.Expiry, hybridShortLocal })
        {
            await using var a = SharedNodes.Hybrid(server.Endpoint, "bench-prop", local);
            await using var b = SharedNodes.Hybrid(server.Endpoint, "bench-prop", local);
            var label = local >= TimeSpan.FromHours(1) ? $"{local.TotalHours:F0} h" : $"{local.TotalSeconds:F0} s";
            await Measure($"HybridCache (no backplane; local expiration {label})", hybridTrials, bound, async key =>
            {
                await b.Cache.GetOrCreateAsync(key, static _ => ValueTask.FromResult<Product?>(Product.Sample(1)));
            }, key => a.Cache.RemoveAsync(key).AsTask(), key => HybridHolds(b.Cache, key), spin: false, warmups: 1);
        }

        Console.WriteLine();
        Console.WriteLine($"Lag: from the start of A's invalidate/remove call to B no longer serving the value from its L1. Bound per trial: {bound.TotalMilliseconds:F0} ms; a trial that does not converge counts at the bound.");
    }

    private static bool HybridHolds(HybridCache cache, string key)
    {
        var task = cache.GetOrCreateAsync(key, static _ => ValueTask.FromResult<Product?>(null), HybridLocalOnly);
        var value = task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();
        return value is not null;
    }

    private static async Task Measure(string name, int trials, TimeSpan bound, Func<string, Task> fill, Func<string, Task> invalidate, Func<string, bool> holds, bool spin, int warmups = 20)
    {
        var lags = new List<double>(trials);
        var unconverged = 0;
        var run = Guid.NewGuid().ToString("N")[..6];
        for (var i = -warmups; i < trials; i++)
        {
            var key = $"product:{run}:{i + warmups}";
            await fill(key);
            await Task.Delay(5); // let the fill's own traffic (L2 write, fill notices) settle
            if (!holds(key))
            {
                throw new InvalidOperationException($"{name}: B does not hold {key} before the invalidation.");
            }

            var watch = Stopwatch.StartNew();
            var call = invalidate(key);
            var converged = false;
            var spinner = default(SpinWait);
            while (watch.Elapsed < bound)
            {
                if (!holds(key))
                {
                    converged = true;
                    break;
                }

                if (spin)
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                }
                else
                {
                    await Task.Delay(1);
                }
            }

            var lag = watch.Elapsed.TotalMilliseconds;
            await call;
            if (i < 0)
            {
                continue;
            }

            if (!converged)
            {
                unconverged++;
                lag = bound.TotalMilliseconds;
            }

            lags.Add(lag);
        }

        Console.WriteLine($"| {name} | {trials} | {Stats.Ms(Percentiles.Of(lags, 50))} | {Stats.Ms(Percentiles.Of(lags, 90))} | {Stats.Ms(Percentiles.Of(lags, 99))} | {Stats.Ms(lags.Max())} | {unconverged} of {trials} |");
    }
}
