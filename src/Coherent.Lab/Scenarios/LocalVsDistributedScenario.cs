using System.Diagnostics;
using System.Globalization;
using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;
using Coherent.Testing;

namespace Coherent.Lab.Scenarios;

/// <summary>
/// Read latency per tier (L1, L2, database) and the inconsistency window between two nodes: L1-only caching, where a
/// write on node A never reaches node B, against the invalidation bus (Redis) and, when --memcached is given, against
/// Memcached (no bus: node B's copy lives until its local TTL, within MaxStaleness), side by side.
/// </summary>
internal sealed class LocalVsDistributedScenario : IScenario
{
    private static readonly TimeSpan LocalTtl = TimeSpan.FromSeconds(2);

    public string Name => "local-vs-distributed";

    public async Task<ScenarioResult> RunAsync(LabEnvironment env, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult(Name, "Local vs distributed cache",
            "An in-process cache reads in nanoseconds but a write to instance A doesn't invalidate instance B; a shared cache is consistent but 1,000x slower.");
        var backends = new List<SharedBackend>();
        if (env.Endpoint is not null)
        {
            backends.Add(SharedBackend.Redis);
        }

        if (env.Memcached is not null)
        {
            backends.Add(SharedBackend.Memcached);
        }

        var shared = backends.Count > 0;
        var trials = env.Options.Quick ? 20 : 100;
        using var db = env.NewDatabase(2000);

        var latency = new ResultTable("Read latency per tier", "tier", "p50", "p99", "samples");
        env.Progress("latency: L1 hit");
        await using (var node = env.NewNode("tier-l1", Declare, shared: false))
        {
            await node.GetOrSetAsync("price:1", (db, 1L), static (s, ct) => s.db.ReadAsync(s.Item2, ct), cancellationToken: cancellationToken);
            const int n = 2_000_000;
            var per = new Samples();
            for (var round = 0; round < 5; round++)
            {
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < n; i++)
                {
                    await node.GetOrSetAsync("price:1", (db, 1L), static (s, ct) => s.db.ReadAsync(s.Item2, ct), cancellationToken: cancellationToken);
                }

                per.Add(sw.Elapsed.TotalMilliseconds / n);
            }

            latency.Add("L1 hit (mean of 2M per round, 5 rounds)", Samples.Ms(per.Percentile(50)), Samples.Ms(per.Max), "5 x 2,000,000");
        }

        foreach (var backend in backends)
        {
            env.Progress($"latency: L2 hit on {backend} (fresh node, empty L1)");
            await using var writer = env.NewNode("tier-writer", Declare, shared: true, backend: backend);
            await using var reader = env.NewNode("tier-reader", Declare, shared: true, backend: backend);
            var l2 = new Samples();
            for (var id = 1; id <= 500; id++)
            {
                await writer.SetAsync($"price:{id}", await db.ReadAsync(id, cancellationToken), cancellationToken: cancellationToken);
            }

            for (var id = 1; id <= 500; id++)
            {
                var t0 = ProofClock.NowMs;
                await reader.GetOrSetAsync($"price:{id}", (db, (long)id), static (s, ct) => s.db.ReadAsync(s.Item2, ct), cancellationToken: cancellationToken);
                l2.Add(ProofClock.NowMs - t0);
            }

            latency.Add($"L2 hit ({backend})", Samples.Ms(l2.Percentile(50)), Samples.Ms(l2.Percentile(99)), "500");
            env.BeginRun(); // the next backend's nodes start on a fresh key prefix
        }

        env.Progress("latency: database");
        var dbLatency = new Samples();
        for (var id = 1; id <= 500; id++)
        {
            var t0 = ProofClock.NowMs;
            await db.ReadAsync(id, cancellationToken);
            dbLatency.Add(ProofClock.NowMs - t0);
        }

        latency.Add("database (SQLite file)", Samples.Ms(dbLatency.Percentile(50)), Samples.Ms(dbLatency.Percentile(99)), "500");
        result.Tables.Add(latency);

        var window = new ResultTable($"Inconsistency window: node B keeps serving the old price after node A's write ({trials} trials)", "setup", "p50", "p99", "max", "bound");
        env.Progress("inconsistency window: L1 only");
        window.Add([.. await MeasureWindowAsync(env, db, shared: false, trials: env.Options.Quick ? 2 : 5, cancellationToken), $"TTL {LocalTtl.TotalSeconds:0} s"]);
        foreach (var backend in backends)
        {
            env.Progress($"inconsistency window: {backend}");
            var bound = backend == SharedBackend.Redis ? "target p50 <= 0.5 ms, p99 <= 5 ms" : $"local TTL {LocalTtl.TotalSeconds:0} s (no bus; never past MaxStaleness)";
            window.Add([.. await MeasureWindowAsync(env, db, shared: true, backend == SharedBackend.Redis ? trials : Math.Min(trials, env.Options.Quick ? 2 : 5), cancellationToken, backend), bound]);
        }

        if (!shared)
        {
            result.Notes.Add("No shared tier: the bus was not measured.");
        }
        else if (backends.Count == 2)
        {
            result.Notes.Add("Redis and Memcached side by side: Memcached has no invalidation bus, so another node's copy lives until its local TTL (at most MaxStaleness); Redis tells every node at once.");
        }

        result.Tables.Add(window);
        return result;
    }

    private static void Declare(CoherentCacheBuilder b) =>
        b.Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).LocalTtl(LocalTtl).Jitter(0));

    private static async Task<string[]> MeasureWindowAsync(LabEnvironment env, Products db, bool shared, int trials, CancellationToken cancellationToken, SharedBackend? backend = null)
    {
        env.BeginRun(); // a fresh key prefix: nothing left by the previous setup's nodes
        await using var a = env.NewNode(shared ? "bus-a" : "l1-a", Declare, shared, backend: backend);
        await using var b = env.NewNode(shared ? "bus-b" : "l1-b", Declare, shared, backend: backend);
        var samples = new Samples();
        for (var trial = 0; trial < trials; trial++)
        {
            var id = 1000 + trial;
            var key = $"price:{id}";
            await b.GetOrSetAsync(key, (db, (long)id), static (s, ct) => s.db.ReadAsync(s.Item2, ct), cancellationToken: cancellationToken);
            var version = await db.WritePriceAsync(id, 99, cancellationToken);
            await a.InvalidateAsync(key, cancellationToken);
            var told = ProofClock.NowMs;
            var limit = told + LocalTtl.TotalMilliseconds + 1000;
            while (ProofClock.NowMs < limit)
            {
                var seen = await b.GetOrSetAsync(key, (db, (long)id), static (s, ct) => s.db.ReadAsync(s.Item2, ct), cancellationToken: cancellationToken);
                if (seen.Version >= version)
                {
                    break;
                }

                if (!shared || backend == SharedBackend.Memcached)
                {
                    await Task.Delay(5, cancellationToken);
                }
            }

            samples.Add(ProofClock.NowMs - told);
        }

        var setup = !shared ? "L1 only (no bus)" : backend == SharedBackend.Memcached ? "L1 + L2 on Memcached (no bus)" : "L1 + L2 + invalidation bus (Redis)";
        return [setup, Samples.Ms(samples.Percentile(50)), Samples.Ms(samples.Percentile(99)), Samples.Ms(samples.Max)];
    }
}
