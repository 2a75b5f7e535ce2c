using System.Globalization;
using System.Text;

namespace Coherent;

/// <summary>Whether caching a family is worth it.</summary>
public enum AdvisorVerdict
{
    /// <summary>Fewer reads than needed to judge.</summary>
    NotEnoughData,

    /// <summary>The cache serves most reads and saves factory time.</summary>
    Helps,

    /// <summary>The cache helps somewhat; check the TTL and invalidation rate.</summary>
    Marginal,

    /// <summary>The data changes about as often as it is read, or few reads hit: caching adds staleness and cost for little gain.</summary>
    DoesNotHelp,
}

/// <summary>Measurements and verdict for one family.</summary>
/// <param name="Family">The family.</param>
/// <param name="Reads">Reads (hits, stale serves and misses).</param>
/// <param name="HitRatio">Share of reads served without running the factory, 0 to 1.</param>
/// <param name="WritesPer1000Reads">Sets and invalidations per 1,000 reads.</param>
/// <param name="MedianFactoryCostMs">Median factory duration, or null when no factory ran.</param>
/// <param name="FactoryTimeSavedMs">Hits × median factory cost: source time the cache saved.</param>
/// <param name="Verdict">The verdict.</param>
/// <param name="Explanation">One sentence on why.</param>
public sealed record FamilyAdvice(string Family, long Reads, double HitRatio, double WritesPer1000Reads, double? MedianFactoryCostMs,
    double FactoryTimeSavedMs, AdvisorVerdict Verdict, string Explanation);

/// <summary>The advisor's findings for every family seen, as data and (<see cref="ToString"/>) as text.</summary>
public sealed class AdvisorReport
{
    internal AdvisorReport(IReadOnlyList<FamilyAdvice> families) => Families = families;

    /// <summary>One row per family.</summary>
    public IReadOnlyList<FamilyAdvice> Families { get; }

    /// <summary>The advice for a family, or null if it was never used.</summary>
    public FamilyAdvice? this[string family] => Families.FirstOrDefault(f => f.Family == family);

    /// <inheritdoc />
    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var f in Families)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"{f.Family}: {f.Reads} reads, hit ratio {f.HitRatio:P1}, {f.WritesPer1000Reads:0.#} writes/1000 reads, median cost {(f.MedianFactoryCostMs is { } c ? $"{c:0.##} ms" : "-")}, saved {f.FactoryTimeSavedMs:0} ms -> {f.Verdict}: {f.Explanation}");
            sb.AppendLine();
        }

        return sb.ToString();
    }
}
