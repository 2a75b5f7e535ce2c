using System.Globalization;
using System.Net;
using System.Text;
using Coherent;

namespace Shop;

/// <summary>The <c>/_coherent</c> page and its JSON twin: policies, hit ratios, staleness histograms, bus health, advisor.</summary>
public static class DiagnosticsPage
{
    /// <summary>The diagnostics as a plain object graph (serialized to JSON by the endpoint).</summary>
    public static object Data(CoherentCache cache, StalenessCollector staleness) => new
    {
        cache = cache.Name,
        sharedTier = cache.SharedTierState.ToString(),
        pendingInvalidations = cache.PendingInvalidations,
        localEntries = cache.LocalCount,
        policies = cache.DescribePolicies().Rows.Select(p => new
        {
            family = p.Family,
            maxStaleness = p.MaxStaleness.ToString(),
            ttl = p.Ttl.ToString(),
            localTtl = p.LocalTtl.ToString(),
            jitter = p.Jitter,
            earlyRefreshBeta = p.EarlyRefreshBeta,
            failSafeMaxAge = p.FailSafeMaxAge?.ToString(),
            reason = p.Reason,
        }),
        advisor = cache.Advise().Families.Select(f => new
        {
            family = f.Family,
            reads = f.Reads,
            hitRatio = f.HitRatio,
            writesPer1000Reads = double.IsFinite(f.WritesPer1000Reads) ? f.WritesPer1000Reads : (double?)null,
            medianFactoryCostMs = f.MedianFactoryCostMs,
            verdict = f.Verdict.ToString(),
            explanation = f.Explanation,
        }),
        histogramBoundsMs = StalenessCollector.BoundsMs,
        histograms = staleness.Snapshot(),
    };

    /// <summary>The HTML page (inline CSS and SVG; no scripts).</summary>
    public static string Html(CoherentCache cache, StalenessCollector staleness)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Coherent diagnostics</title><style>");
        sb.Append("body{font-family:system-ui,sans-serif;margin:2rem;color:#111}table{border-collapse:collapse;margin-bottom:1.5rem}");
        sb.Append("th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}th{background:#f3f4f6}.ok{color:#15803d}.bad{color:#b91c1c}");
        sb.Append("</style></head><body>");
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Coherent diagnostics — {E(cache.Name)}</h1>");
        var state = cache.SharedTierState;
        sb.Append(CultureInfo.InvariantCulture, $"<p id=\"bus\">Shared tier and bus: <b class=\"{(state is SharedTierState.Healthy or SharedTierState.None ? "ok" : "bad")}\">{state}</b>; pending invalidations: {cache.PendingInvalidations}; local entries: {cache.LocalCount}</p>");

        sb.Append("<h2>Policies</h2><table id=\"policies\"><tr><th>family</th><th>max staleness</th><th>ttl</th><th>local ttl</th><th>jitter</th><th>early refresh</th><th>fail-safe</th><th>reason</th></tr>");
        foreach (var p in cache.DescribePolicies().Rows)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(p.Family)}</td><td>{PolicyReport.FormatDuration(p.MaxStaleness)}</td><td>{PolicyReport.FormatDuration(p.Ttl)}</td><td>{PolicyReport.FormatDuration(p.LocalTtl)}</td><td>{p.Jitter:P0}</td><td>{(p.EarlyRefreshBeta is { } b ? $"β={b}" : "off")}</td><td>{PolicyReport.FormatDuration(p.FailSafeMaxAge)}</td><td>{E(p.Reason ?? "")}</td></tr>");
        }

        sb.Append("</table><h2>Hit ratios and advisor</h2><table id=\"advisor\"><tr><th>family</th><th>reads</th><th>hit ratio</th><th>writes / 1000 reads</th><th>median cost</th><th>verdict</th></tr>");
        foreach (var f in cache.Advise().Families)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(f.Family)}</td><td>{f.Reads}</td><td>{f.HitRatio:P1}</td><td>{f.WritesPer1000Reads:0.#}</td><td>{(f.MedianFactoryCostMs is { } c ? $"{c:0.##} ms" : "-")}</td><td title=\"{E(f.Explanation)}\">{f.Verdict}</td></tr>");
        }

        sb.Append("</table>");
        var snapshot = staleness.Snapshot();
        foreach (var (instrument, title) in new[] { ("served_age", "Age of values served"), ("invalidation_lag", "Invalidation lag (publish to arrival)") })
        {
            sb.Append(CultureInfo.InvariantCulture, $"<h2>{title}</h2>");
            if (!snapshot.TryGetValue(instrument, out var families) || families.Count == 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<p class=\"empty\" id=\"{instrument}-empty\">No measurements yet.</p>");
                continue;
            }

            foreach (var (family, counts) in families.OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                sb.Append(Histogram($"{instrument}-{family}", family, counts));
            }
        }

        sb.Append("</body></html>");
        return sb.ToString();
    }

    private static string Histogram(string id, string family, long[] counts)
    {
        const int w = 560, h = 160, left = 40, bottom = 30;
        var max = Math.Max(1, counts.Max());
        var slot = (w - left) / (double)counts.Length;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg id=\"{E(id)}\" class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><text x=\"{left}\" y=\"12\" font-size=\"12\">{E(family)}</text>");
        for (var i = 0; i < counts.Length; i++)
        {
            var bh = (h - bottom - 20) * counts[i] / (double)max;
            var x = left + (i * slot);
            var label = i < StalenessCollector.BoundsMs.Length ? $"<{Bound(StalenessCollector.BoundsMs[i])}" : $"≥{Bound(StalenessCollector.BoundsMs[^1])}";
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x + 4:0.#}\" y=\"{h - bottom - bh:0.#}\" width=\"{slot - 8:0.#}\" height=\"{bh:0.#}\" fill=\"#2563eb\"><title>{counts[i]}</title></rect>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + (slot / 2):0.#}\" y=\"{h - 12}\" font-size=\"10\" text-anchor=\"middle\">{label}</text><text x=\"{x + (slot / 2):0.#}\" y=\"{h - bottom - bh - 3:0.#}\" font-size=\"10\" text-anchor=\"middle\">{counts[i]}</text>");
        }

        sb.Append("</svg>");
        return sb.ToString();
    }

    private static string Bound(double ms) => ms >= 1000 ? $"{ms / 1000:0}s" : $"{ms:0}ms";

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
