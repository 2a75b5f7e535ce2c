using System.Globalization;
using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;
using Coherent.Testing;

namespace Coherent.Lab.Scenarios;

/// <summary>
/// Three families read and changed at 1000:1, 10:1 and 1:1. The advisor should find that caching the 1:1 family does
/// not help: the article's "anything where the data changes at the same frequency it's read".
/// </summary>
internal sealed class AdvisorScenario : IScenario
{
    public string Name => "advisor";

    public async Task<ScenarioResult> RunAsync(LabEnvironment env, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult(Name, "Does caching help? The advisor",
            "Caching is the right tool for data read far more often than it changes; not for data that changes as often as it is read.");
        using var db = env.NewDatabase(300);
        await using var cache = env.NewNode("advisor", b => LabPolicies.DeclareAll(b), shared: env.Endpoint is not null);
        (string Family, int ReadsPerWrite)[] families = [("country", 1000), ("stock", 10), ("session", 1)];
        var random = new Random(42);
        var deadline = ProofClock.NowMs + env.Options.Duration.TotalMilliseconds;
        var ops = 0L;
        env.Progress($"running a mixed workload for {env.Options.Duration.TotalSeconds:0.#} s");
        while (ProofClock.NowMs < deadline && !cancellationToken.IsCancellationRequested)
        {
            var (family, ratio) = families[random.Next(families.Length)];
            var id = 1 + random.Next(100);
            var key = $"{family}:{id}";
            if (random.Next(ratio + 1) == 0)
            {
                var version = await db.WritePriceAsync(id, random.Next(10, 100), cancellationToken);
                await cache.InvalidateAsync(key, cancellationToken);
                db.Told(id, version);
            }
            else
            {
                await cache.GetOrSetAsync(key, (db, id), static (s, ct) => s.db.ReadAsync(s.id, ct), cancellationToken: cancellationToken);
            }

            ops++;
        }

        var advice = cache.Advise();
        var table = new ResultTable("Advisor verdicts", "family", "reads:writes", "reads", "hit ratio", "writes/1000 reads", "median cost", "source time saved", "verdict");
        foreach (var (family, ratio) in families)
        {
            if (advice[family] is not { } a)
            {
                continue;
            }

            table.Add(family, $"{ratio}:1", a.Reads.ToString(CultureInfo.InvariantCulture), a.HitRatio.ToString("P1", CultureInfo.InvariantCulture),
                a.WritesPer1000Reads.ToString("0.#", CultureInfo.InvariantCulture), a.MedianFactoryCostMs is { } c ? Samples.Ms(c) : "-",
                Samples.Ms(a.FactoryTimeSavedMs), a.Verdict.ToString());
        }

        result.Tables.Add(table);
        result.Notes.Add($"{ops} operations on one node; writes go to SQLite, then InvalidateAsync.");
        result.Notes.Add(advice.ToString().Trim());
        var sessionVerdict = advice["session"]?.Verdict;
        result.Passed = sessionVerdict is AdvisorVerdict.DoesNotHelp && advice["country"]?.Verdict is AdvisorVerdict.Helps;
        if (!result.Passed)
        {
            result.Notes.Add($"Expected session=DoesNotHelp and country=Helps; got session={sessionVerdict}, country={advice["country"]?.Verdict}.");
        }

        return result;
    }
}
