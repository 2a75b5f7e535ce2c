namespace Coherent.Lab.Scenarios;

/// <summary>The lab's families, declared once like a real service would: the table the policies scenario prints.</summary>
internal static class LabPolicies
{
    public static CoherentCacheBuilder DeclareAll(CoherentCacheBuilder b) => b
        .Strict()
        .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0.1)
            .Reason("a changed price must show within 1 s: pricing team, 2026-11"))
        .Define("stock", p => p.MaxStaleness(TimeSpan.FromSeconds(10)).Ttl(TimeSpan.FromMinutes(1)).FailSafe(TimeSpan.FromMinutes(5))
            .Reason("stock may lag 10 s; show the last count if the inventory service is down: ops, 2026-11"))
        .Define("country", p => p.MaxStaleness(TimeSpan.FromHours(1)).Ttl(TimeSpan.FromDays(1)).NoEarlyRefresh()
            .Reason("ISO country list changes a few times a year: platform team"))
        .Define("report", p => p.MaxStaleness(TimeSpan.FromMinutes(5)).Ttl(TimeSpan.FromHours(1)).EarlyRefresh(2)
            .Timeouts(soft: TimeSpan.FromSeconds(1), hard: TimeSpan.FromSeconds(30)).FailSafe(TimeSpan.FromHours(2))
            .Reason("dashboard totals: 5 min is fine, the query takes 8 s: analytics, 2026-11"))
        .Define("session", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(20))
            .Reason("user-specific, changes on every request: candidate for no cache (see advisor)"));
}
