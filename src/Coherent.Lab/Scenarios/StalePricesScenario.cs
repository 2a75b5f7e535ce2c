using System.Globalization;
using System.Runtime.CompilerServices;
using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;
using Coherent.Testing;

namespace Coherent.Lab.Scenarios;

/// <summary>
/// The article's opening story: product prices cached on several nodes while a writer changes them in the database.
/// Each strategy runs the same Zipf read load and the same writes; every read is judged against the database's history.
/// </summary>
internal sealed class StalePricesScenario : IScenario
{
    private const int Products = 2000;
    private const int ReadersPerNode = 4;
    private static readonly TimeSpan MaxStaleness = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan WriteEvery = TimeSpan.FromMilliseconds(20);

    public string Name => "stale-prices";

    /// <summary>A strategy: how the family is declared, whether nodes share a tier, and what the writer does after a write.</summary>
    /// <param name="Name">Shown in the table.</param>
    /// <param name="Policy">The price family's policy (MaxStaleness is set by the scenario).</param>
    /// <param name="Shared">Nodes use the shared tier.</param>
    /// <param name="Invalidate">The writer tells the cache after each write (InvalidateAsync, or SetAsync with <paramref name="WriteThrough"/>).</param>
    /// <param name="BoundApplies">The strategy claims to keep MaxStaleness (a broken bound fails the scenario).</param>
    /// <param name="Redis">Per-node shared-tier options (node index, options): fault hooks, versioned families.</param>
    /// <param name="WriteThrough">The writer stores the new value with SetAsync instead of invalidating.</param>
    /// <param name="FaultAfterWrites">After this many writes, <see cref="Fault"/> is raised (the faulted-bus strategy).</param>
    internal sealed record Strategy(string Name, Action<FamilyPolicyBuilder> Policy, bool Shared, bool Invalidate, bool BoundApplies,
        Action<int, CoherentRedisOptions>? Redis = null, bool WriteThrough = false, int FaultAfterWrites = 0)
    {
        /// <summary>Set once the fault starts; hooks in <see cref="Redis"/> read it.</summary>
        public StrongBox<bool> Fault { get; } = new(false);
    }

    public async Task<ScenarioResult> RunAsync(LabEnvironment env, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult(Name, "Stale prices: which strategy keeps its promise?",
            "Customers were seeing outdated prices for hours after a change. The cache was correct; the business wasn't getting what it needed.");
        var shared = env.Endpoint is not null;
        var strategies = new List<Strategy>
        {
            new("long TTL only (24 h)", p => p.Ttl(TimeSpan.FromHours(24)), shared, Invalidate: false, BoundApplies: false),
            new("short TTL 0.8 s ±20%", p => p.Ttl(TimeSpan.FromSeconds(0.8)).Jitter(0.2), shared, Invalidate: false, BoundApplies: true),
            new(shared ? "event-driven invalidation" : "event-driven, L1 only (no bus)", p => p.Ttl(TimeSpan.FromHours(24)), shared, Invalidate: true, BoundApplies: shared),
        };
        strategies.AddRange(ExtraStrategies.For(env));
        var table = new ResultTable($"{env.Options.Nodes} nodes x {ReadersPerNode} readers (Zipf 0.9 over {Products} products), a price change every {WriteEvery.TotalMilliseconds:0} ms; declared MaxStaleness {MaxStaleness.TotalSeconds:0} s",
            "strategy", "reads", "stale reads", "stale p50", "stale p99", "stale max", "db queries/s", "hit ratio", "within MaxStaleness");
        var chart = new Chart("Worst staleness served (ms)", ChartKind.Bar, "strategy", "ms");
        foreach (var strategy in strategies)
        {
            env.Progress($"stale-prices: {strategy.Name}");
            var m = await RunStrategyAsync(env, strategy, cancellationToken);
            var within = m.Staleness.Count == 0 || m.Staleness.Max <= MaxStaleness.TotalMilliseconds;
            if (strategy.BoundApplies && !within)
            {
                result.Passed = false;
            }

            table.Add(strategy.Name, m.Reads.ToString(CultureInfo.InvariantCulture),
                (m.Reads == 0 ? 0 : (double)m.Staleness.Count / m.Reads).ToString("P2", CultureInfo.InvariantCulture),
                Samples.Ms(m.Staleness.Percentile(50)), Samples.Ms(m.Staleness.Percentile(99)), Samples.Ms(m.Staleness.Max),
                (m.DbReads / m.Seconds).ToString("0", CultureInfo.InvariantCulture),
                (m.Reads == 0 ? 0 : 1 - ((double)m.DbReads / m.Reads)).ToString("P1", CultureInfo.InvariantCulture),
                strategy.BoundApplies
                    ? within ? "yes" : "NO (bound broken)"
                    : within ? "yes, but only because the run was short: unbounded" : "no (nothing tells the cache)");
            chart.Series.Add(new Series(strategy.Name, [(0, m.Staleness.Count == 0 ? 0 : m.Staleness.Max)]));
        }

        result.Tables.Add(table);
        result.Charts.Add(chart);
        result.Notes.Add("Staleness of a read = time from when the next version was committed (TTL strategies) or when the writer's invalidation returned (event-driven) to the read's end, counted only if that was before the read began.");
        return result;
    }

    private sealed record Measured(long Reads, long DbReads, double Seconds, Samples Staleness);

    private static async Task<Measured> RunStrategyAsync(LabEnvironment env, Strategy strategy, CancellationToken cancellationToken)
    {
        using var db = env.NewDatabase(Products);
        var nodes = Enumerable.Range(0, env.Options.Nodes)
            .Select(n => env.NewNode($"prices-{n}", b => b.Define("price", p => strategy.Policy(p.MaxStaleness(MaxStaleness))), strategy.Shared,
                strategy.Redis is { } redis ? o => redis(n, o) : null))
            .ToList();
        try
        {
            var zipf = new Zipf(Products, 0.9);
            var staleness = new Samples();
            long reads = 0;
            var start = ProofClock.NowMs;
            var deadline = start + env.Options.Duration.TotalMilliseconds;
            var readers = nodes.SelectMany((node, n) => Enumerable.Range(0, ReadersPerNode).Select(r => Task.Run(async () =>
            {
                var random = new Random((n * 100) + r);
                while (ProofClock.NowMs < deadline && !cancellationToken.IsCancellationRequested)
                {
                    var id = zipf.Next(random);
                    var t0 = ProofClock.NowMs;
                    var product = await node.GetOrSetAsync($"price:{id}", (db, id), static (s, ct) => s.db.ReadAsync(s.id, ct), cancellationToken: cancellationToken);
                    var stale = db.Staleness(id, product.Version, t0, ProofClock.NowMs, sinceTold: strategy.Invalidate);
                    if (stale > 0)
                    {
                        staleness.Add(stale);
                    }

                    Interlocked.Increment(ref reads);
                    await Task.Delay(1, cancellationToken);
                }
            }, cancellationToken))).ToList();
            var writer = Task.Run(async () =>
            {
                var random = new Random(7);
                var writes = 0;
                while (ProofClock.NowMs < deadline && !cancellationToken.IsCancellationRequested)
                {
                    var id = zipf.Next(random);
                    var version = await db.WritePriceAsync(id, random.Next(10, 100), cancellationToken);
                    if (strategy.WriteThrough)
                    {
                        await nodes[0].SetAsync($"price:{id}", await db.ReadAsync(id, cancellationToken), cancellationToken: cancellationToken);
                        db.Told(id, version);
                    }
                    else if (strategy.Invalidate)
                    {
                        await nodes[0].InvalidateAsync($"price:{id}", cancellationToken);
                        db.Told(id, version);
                    }

                    if (++writes == strategy.FaultAfterWrites)
                    {
                        strategy.Fault.Value = true;
                    }

                    await Task.Delay(WriteEvery, cancellationToken);
                }
            }, cancellationToken);
            await Task.WhenAll(readers.Append(writer));
            return new Measured(reads, db.Reads, (ProofClock.NowMs - start) / 1000, staleness);
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }
}
