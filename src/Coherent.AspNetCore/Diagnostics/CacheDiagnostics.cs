namespace Coherent.Diagnostics;

/// <summary>What the page shows of one cache, read once per request so the HTML and the JSON show the same moment.</summary>
internal sealed record CacheDiagnostics(
    string? ServiceKey,
    string Name,
    SharedTierState State,
    long PendingInvalidations,
    int LocalEntries,
    PolicyReport Policies,
    AdvisorReport Advice,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>> Outcomes,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, long[]>> Histograms)
{
    /// <summary>The outcomes in the order the page lists them (coherent.requests' values).</summary>
    public static readonly string[] OutcomeNames = ["l1_hit", "l2_hit", "computed", "stale", "early_refresh", "miss", "failed"];

    /// <summary>Healthy with a working shared tier or none; otherwise the cache serves within MaxStaleness but is degraded.</summary>
    public bool Healthy => State is SharedTierState.Healthy or SharedTierState.None;

    public static IReadOnlyList<CacheDiagnostics> Read(IServiceProvider services, TelemetryCollector telemetry) =>
        services.GetCoherentCaches().Select(c => new CacheDiagnostics(
            c.ServiceKey,
            c.Cache.Name,
            c.Cache.SharedTierState,
            c.Cache.PendingInvalidations,
            c.Cache.LocalCount,
            c.Cache.DescribePolicies(),
            c.Cache.Advise(),
            telemetry.Outcomes(c.Cache.Name),
            telemetry.Histograms(c.Cache.Name))).ToList();
}
