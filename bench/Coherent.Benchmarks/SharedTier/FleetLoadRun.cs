using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using ZiggyCreatures.Caching.Fusion;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// The price of coherence (console mode <c>redis-fleet-load</c>): 3 instances × 4 workers on one throwaway redis-server,
/// Zipf(0.9) over 10,000 keys, one write in 10 and one in 100 operations (the database row's version goes up, then the
/// cache is invalidated), 5 s per case. Per library: throughput, read p50/p99, factory runs and stale reads — a read that
/// returned a version older than one whose invalidation had returned before the read began.
/// </summary>
internal static class FleetLoadRun
{
    private const int Instances = 3;
    private const int WorkersPerInstance = 4;
    private const int Keys = 10_000;
    private const double Skew = 0.9;

    /// <summary>One instance's get-or-create and invalidate, as its users call them.</summary>
    private sealed record Peer(Func<string, Func<CancellationToken, ValueTask<long>>, ValueTask<long>> Get, Func<string, ValueTask> Invalidate);

    public static async Task RunAsync(string[] args)
    {
        var seconds = args.Length > 0 && int.TryParse(args[0], out var s) ? s : 5;
        var only = args.Length > 1 && args[1] != "all" ? args[1] : null;
        var waits = args.Length > 2 && args[2] == "waits"; // where a coherent read waits: Coherent's spans, by name (adds their cost)
        await using var server = await RedisProcess.StartNewAsync();
        Console.WriteLine($"Fleet load: {Instances} instances × {WorkersPerInstance} workers, Zipf({Skew}) over {Keys:N0} keys, {seconds} s per case; redis-server 127.0.0.1:{server.Port}");
        Console.WriteLine(Stats.Machine());
        Console.WriteLine();
        Console.WriteLine("| Library | Writes | Ops/s | Read p50 (ms) | Read p99 (ms) | Factory runs | Stale reads |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var writeEvery in new[] { 100, 10 })
        {
            if (Selected("Coherent", only))
            {
                var prefix = "load-" + Guid.NewGuid().ToString("N")[..6];
                var nodes = Enumerable.Range(0, Instances).Select(_ => SharedNodes.Coherent(server.Endpoint, prefix, b => b
                    .Define("row", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh()))).ToArray();
                await Task.Delay(500); // subscriptions live
                using var spans = waits ? new SpanDurations() : null;
                await CaseAsync("Coherent", writeEvery, seconds, nodes.Select(n => new Peer(
                    (key, factory) => n.GetOrSetAsync(key, factory),
                    key => n.InvalidateAsync(key))).ToArray());
                spans?.Print($"Coherent, 1 in {writeEvery}");
                foreach (var n in nodes)
                {
                    await n.DisposeAsync();
                }
            }

            if (Selected("FusionCache", only))
            {
                var name = "load-" + Guid.NewGuid().ToString("N")[..6];
                var nodes = Enumerable.Range(0, Instances).Select(_ => SharedNodes.Fusion(server.Endpoint, name)).ToArray();
                await Task.Delay(500);
                await CaseAsync("FusionCache", writeEvery, seconds, nodes.Select(n => new Peer(
                    (key, factory) => n.Cache.GetOrSetAsync<long>(key, (_, ct) => factory(ct).AsTask()),
                    key => n.Cache.RemoveAsync(key))).ToArray());
                foreach (var n in nodes)
                {
                    await n.DisposeAsync();
                }
            }

            if (Selected("HybridCache", only))
            {
                var name = "load-" + Guid.NewGuid().ToString("N")[..6];
                var nodes = Enumerable.Range(0, Instances).Select(_ => SharedNodes.Hybrid(server.Endpoint, name)).ToArray();
                await CaseAsync("HybridCache", writeEvery, seconds, nodes.Select(n => new Peer(
                    (key, factory) => n.Cache.GetOrCreateAsync(key, factory, static (f, ct) => f(ct)),
                    key => n.Cache.RemoveAsync(key))).ToArray());
                foreach (var n in nodes)
                {
                    await n.DisposeAsync();
                }
            }
        }
    }

    private static bool Selected(string name, string? only) => only is null || name.Contains(only, StringComparison.OrdinalIgnoreCase);

    private static async Task CaseAsync(string library, int writeEvery, int seconds, Peer[] peers)
    {
        var database = new long[Keys];            // the row's version
        var confirmed = new long[Keys];           // the highest version whose invalidation has returned
        var zipf = new Zipf(Keys, Skew);
        var keys = Enumerable.Range(0, Keys).Select(i => $"row:{i}").ToArray();
        var reads = new ConcurrentBag<double[]>();
        long ops = 0, factoryRuns = 0, stale = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var started = Stopwatch.GetTimestamp();

        async Task Worker(Peer peer, int seed)
        {
            var random = new Random(seed);
            var latencies = new List<double>(1 << 16);
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var id = zipf.Next(random) - 1;
                if (++n % writeEvery == 0)
                {
                    var version = Interlocked.Increment(ref database[id]);
                    await peer.Invalidate(keys[id]);
                    Atomic.Max(ref confirmed[id], version);
                }
                else
                {
                    var floor = Volatile.Read(ref confirmed[id]);
                    var begin = Stopwatch.GetTimestamp();
                    var value = await peer.Get(keys[id], _ =>
                    {
                        Interlocked.Increment(ref factoryRuns);
                        return ValueTask.FromResult(Volatile.Read(ref database[id]));
                    });
                    latencies.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds);
                    if (value < floor)
                    {
                        Interlocked.Increment(ref stale);
                    }
                }

                Interlocked.Increment(ref ops);
            }

            reads.Add([.. latencies]);
        }

        var workers = new List<Task>();
        for (var p = 0; p < peers.Length; p++)
        {
            for (var w = 0; w < WorkersPerInstance; w++)
            {
                var peer = peers[p];
                var seed = 1000 * p + w;
                workers.Add(Task.Run(() => Worker(peer, seed)));
            }
        }

        await Task.WhenAll(workers);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var all = reads.SelectMany(r => r).ToArray();
        Console.WriteLine($"| {library} | 1 in {writeEvery} | {ops / elapsed:N0} | {Stats.Ms(Percentiles.Of(all, 50))} | {Stats.Ms(Percentiles.Of(all, 99))} | {factoryRuns:N0} | {stale:N0} ({100.0 * stale / Math.Max(1, all.Length):F2} %) |");
    }

    /// <summary>Durations of Coherent's spans by name while it lives (an ActivityListener: spans exist only when listened to).</summary>
    private sealed class SpanDurations : IDisposable
    {
        private readonly ConcurrentDictionary<string, ConcurrentBag<double>> _byName = new();
        private readonly ActivityListener _listener;

        public SpanDurations()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == "Coherent",
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
                ActivityStopped = a => _byName.GetOrAdd(a.OperationName, _ => []).Add(a.Duration.TotalMilliseconds),
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public void Print(string title)
        {
            Console.WriteLine();
            Console.WriteLine($"Where {title} waits (spans; count, p50, p99, max in ms):");
            foreach (var (name, bag) in _byName.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var values = bag.ToArray();
                Console.WriteLine($"  {name,-22} {values.Length,8:N0}  p50 {Percentiles.Of(values, 50),7:F3}  p99 {Percentiles.Of(values, 99),7:F3}  max {values.Max(),8:F3}");
            }

            Console.WriteLine();
        }

        public void Dispose() => _listener.Dispose();
    }
}
