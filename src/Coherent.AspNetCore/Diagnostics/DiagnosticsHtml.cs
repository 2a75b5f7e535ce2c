using System.Globalization;
using System.Net;
using System.Text;

namespace Coherent.Diagnostics;

/// <summary>The page: one section per cache with its health, policies, hit outcomes, advisor verdicts and staleness histograms. Inline CSS and SVG, no script.</summary>
internal static class DiagnosticsHtml
{
    public static string Render(IReadOnlyList<CacheDiagnostics> caches)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Coherent diagnostics</title><style>");
        sb.Append("body{font-family:system-ui,sans-serif;margin:2rem;color:#111}table{border-collapse:collapse;margin-bottom:1.5rem}");
        sb.Append("th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}th{background:#f3f4f6}.ok{color:#15803d}.bad{color:#b91c1c}");
        sb.Append("section{border-top:2px solid #e5e7eb;margin-top:1.5rem}</style></head><body><h1>Coherent diagnostics</h1>");
        foreach (var cache in caches)
        {
            Section(sb, cache);
        }

        sb.Append("</body></html>");
        return sb.ToString();
    }

    private static void Section(StringBuilder sb, CacheDiagnostics cache)
    {
        var key = cache.ServiceKey is null ? "default cache" : $"keyed cache \"{cache.ServiceKey}\"";
        sb.Append(CultureInfo.InvariantCulture, $"<section class=\"cache\" data-cache=\"{E(cache.Name)}\"><h2>{E(cache.Name)} <small>({E(key)})</small></h2>");
        sb.Append(CultureInfo.InvariantCulture, $"<p class=\"health\">Shared tier and bus: <b class=\"{(cache.Healthy ? "ok" : "bad")}\">{cache.State}</b>; pending invalidations: {cache.PendingInvalidations}; local entries: {cache.LocalEntries}</p>");

        sb.Append("<h3>Policies</h3><table class=\"policies\"><tr><th>family</th><th>max staleness</th><th>ttl</th><th>local ttl</th><th>jitter</th><th>early refresh</th><th>fail-safe</th><th>reason</th></tr>");
        foreach (var p in cache.Policies.Rows)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(p.Family)}</td><td>{PolicyReport.FormatDuration(p.MaxStaleness)}</td><td>{PolicyReport.FormatDuration(p.Ttl)}</td><td>{PolicyReport.FormatDuration(p.LocalTtl)}</td><td>{p.Jitter:P0}</td><td>{(p.EarlyRefreshBeta is { } b ? $"β={b}" : "off")}</td><td>{PolicyReport.FormatDuration(p.FailSafeMaxAge)}</td><td>{E(p.Reason ?? "")}</td></tr>");
        }

        sb.Append("</table><h3>Reads by outcome</h3><table class=\"outcomes\"><tr><th>family</th>");
        foreach (var outcome in CacheDiagnostics.OutcomeNames)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<th>{outcome}</th>");
        }

        sb.Append("</tr>");
        foreach (var (family, counts) in cache.Outcomes.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(family)}</td>");
            foreach (var outcome in CacheDiagnostics.OutcomeNames)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<td>{counts.GetValueOrDefault(outcome)}</td>");
            }

            sb.Append("</tr>");
        }

        sb.Append("</table><h3>Hit ratios and advisor</h3><table class=\"advisor\"><tr><th>family</th><th>reads</th><th>hit ratio</th><th>writes / 1000 reads</th><th>median cost</th><th>verdict</th></tr>");
        foreach (var f in cache.Advice.Families)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(f.Family)}</td><td>{f.Reads}</td><td>{f.HitRatio:P1}</td><td>{f.WritesPer1000Reads:0.#}</td><td>{(f.MedianFactoryCostMs is { } c ? $"{c:0.##} ms" : "-")}</td><td title=\"{E(f.Explanation)}\">{f.Verdict}</td></tr>");
        }

        sb.Append("</table>");
        foreach (var (instrument, title) in new[] { (TelemetryCollector.ServedAge, "Age of values served"), (TelemetryCollector.InvalidationLag, "Invalidation lag (publish to arrival)") })
        {
            sb.Append(CultureInfo.InvariantCulture, $"<h3>{title}</h3>");
            if (!cache.Histograms.TryGetValue(instrument, out var families) || families.Count == 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<p class=\"empty {instrument}\">No measurements yet.</p>");
                continue;
            }

            foreach (var (family, counts) in families.OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                Histogram(sb, instrument, family, counts);
            }
        }

        sb.Append("</section>");
    }

    private static void Histogram(StringBuilder sb, string instrument, string family, long[] counts)
    {
        const int w = 560, h = 160, left = 40, bottom = 30;
        var max = Math.Max(1, counts.Max());
        var slot = (w - left) / (double)counts.Length;
        var bounds = TelemetryCollector.BoundsMs;
        sb.Append(CultureInfo.InvariantCulture, $"<svg class=\"histogram {instrument}\" data-family=\"{E(family)}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><text x=\"{left}\" y=\"12\" font-size=\"12\">{E(family)}</text>");
        for (var i = 0; i < counts.Length; i++)
        {
            var bh = (h - bottom - 20) * counts[i] / (double)max;
            var x = left + (i * slot);
            var label = i < bounds.Length ? $"<{Bound(bounds[i])}" : $"≥{Bound(bounds[^1])}";
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x + 4:0.#}\" y=\"{h - bottom - bh:0.#}\" width=\"{slot - 8:0.#}\" height=\"{bh:0.#}\" fill=\"#2563eb\"><title>{counts[i]}</title></rect>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + (slot / 2):0.#}\" y=\"{h - 12}\" font-size=\"10\" text-anchor=\"middle\">{E(label)}</text><text x=\"{x + (slot / 2):0.#}\" y=\"{h - bottom - bh - 3:0.#}\" font-size=\"10\" text-anchor=\"middle\">{counts[i]}</text>");
        }

        sb.Append("</svg>");
    }

    private static string Bound(double ms) => ms >= 1000
        ? string.Create(CultureInfo.InvariantCulture, $"{ms / 1000:0}s")
        : string.Create(CultureInfo.InvariantCulture, $"{ms:0}ms");

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
