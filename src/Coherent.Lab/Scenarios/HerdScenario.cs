using System.Globalization;
using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;
using Coherent.Testing;

namespace Coherent.Lab.Scenarios;

/// <summary>
/// One hot key with an expensive (50 ms) query, expiring every second under steady load on every node: how many
/// queries reach the database when it expires, and what readers pay.
/// </summary>
internal sealed class HerdScenario : IScenario
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan QueryCost = TimeSpan.FromMilliseconds(50);
    private const int ReadersPerNode = 24;
    private const double BucketMs = 100;

    public string Name => "herd";

    public async Task<ScenarioResult> RunAsync(LabEnvironment env, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult(Name, "Thundering herd on one hot key",
            "A highly-requested entry expiring while traffic is high sends every concurrent request to the database at once.");
        var table = new ResultTable($"{env.Options.Nodes} nodes x {ReadersPerNode} readers, TTL {Ttl.TotalSeconds:0} s, query {QueryCost.TotalMilliseconds:0} ms",
            "strategy", "db queries", "per expiry", "peak concurrent", "read p50", "read p99", "read max");
        var chart = new Chart("Database queries per 100 ms", ChartKind.Line, "seconds", "queries");
        var strategies = new List<(string Name, bool Shared, Func<int, Func<long, ValueTask<Row>>, Func<ValueTask<Row>>> Make)>
        {
            ("no protection", false, Naive(jitter: 0)),
            ("jitter ±20%", false, Naive(jitter: 0.2)),
            ("single-flight", false, CoherentNode(env, early: false, shared: false)),
            ("XFetch + single-flight", false, CoherentNode(env, early: true, shared: false)),
        };
        if (env.Endpoint is not null)
        {
            strategies.Add(("fleet lease + XFetch", true, CoherentNode(env, early: true, shared: true)));
        }
        else
        {
            result.Notes.Add("No shared Redis: the fleet-lease strategy was not run.");
        }

        foreach (var (name, _, make) in strategies)
        {
            env.Progress($"herd: {name}");
            using var db = env.NewDatabase(1);
            db.ReadDelay = QueryCost;
            var buckets = new int[(int)Math.Ceiling((env.Options.Duration.TotalMilliseconds + 2000) / BucketMs)];
            var start = 0.0;
            db.OnRead = t =>
            {
                var i = (int)((t - start) / BucketMs);
                if (i >= 0 && i < buckets.Length)
                {
                    Interlocked.Increment(ref buckets[i]);
                }
            };
            var readers = Enumerable.Range(0, env.Options.Nodes).Select(n => make(n, id => db.ReadAsync(id, cancellationToken))).ToList();
            var latency = new Samples();
            start = ProofClock.NowMs;
            var deadline = start + env.Options.Duration.TotalMilliseconds;
            var tasks = readers.SelectMany(read => Enumerable.Range(0, ReadersPerNode).Select(_ => Task.Run(async () =>
            {
                while (ProofClock.NowMs < deadline && !cancellationToken.IsCancellationRequested)
                {
                    var t0 = ProofClock.NowMs;
                    await read();
                    latency.Add(ProofClock.NowMs - t0);
                    await Task.Delay(1, cancellationToken);
                }
            }, cancellationToken))).ToList();
            await Task.WhenAll(tasks);
            foreach (var node in _nodes)
            {
                await node.DisposeAsync();
            }

            _nodes.Clear();
            var expiries = Math.Max(1, env.Options.Duration.TotalMilliseconds / Ttl.TotalMilliseconds);
            table.Add(name, db.Reads.ToString(CultureInfo.InvariantCulture), (db.Reads / expiries).ToString("0.#", CultureInfo.InvariantCulture),
                db.PeakConcurrentReads.ToString(CultureInfo.InvariantCulture), Samples.Ms(latency.Percentile(50)), Samples.Ms(latency.Percentile(99)), Samples.Ms(latency.Max));
            var used = (int)Math.Ceiling(env.Options.Duration.TotalMilliseconds / BucketMs);
            chart.Series.Add(new Series(name, Enumerable.Range(0, Math.Min(used, buckets.Length)).Select(i => (i * BucketMs / 1000, (double)buckets[i])).ToList()));
        }

        result.Tables.Add(table);
        result.Charts.Add(chart);
        result.Notes.Add("'per expiry' = database queries / (duration / TTL). Single-flight bounds it by the node count; a fleet lease by one.");
        return result;
    }

    private readonly List<CoherentCache> _nodes = [];

    private static Func<int, Func<long, ValueTask<Row>>, Func<ValueTask<Row>>> Naive(double jitter) => (node, query) =>
    {
        var cache = new NaiveCache(Ttl, jitter, new Random(node));
        return () => cache.GetOrSetAsync("report:1", query, static (q, _) => q(1), CancellationToken.None);
    };

    private Func<int, Func<long, ValueTask<Row>>, Func<ValueTask<Row>>> CoherentNode(LabEnvironment env, bool early, bool shared) => (node, query) =>
    {
        var cache = env.NewNode($"herd-{node}", b => b.Define("report", p =>
        {
            p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(Ttl).Jitter(0);
            if (early)
            {
                p.EarlyRefresh(1);
            }
            else
            {
                p.NoEarlyRefresh();
            }
        }), shared);
        lock (_nodes)
        {
            _nodes.Add(cache);
        }

        return () => cache.GetOrSetAsync("report:1", query, static (q, _) => q(1));
    };
}
