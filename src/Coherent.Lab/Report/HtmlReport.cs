using System.Net;
using System.Text;

namespace Coherent.Lab.Report;

/// <summary>Writes the self-contained lab report: inline CSS and SVG only, nothing fetched.</summary>
internal static class HtmlReport
{
    public static void Write(string path, IReadOnlyList<ScenarioResult> results, string environment, DateTimeOffset started)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Coherent lab report</title><style>");
        sb.Append("body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;max-width:1100px;color:#111}");
        sb.Append("table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #d1d5db;padding:.25rem .5rem;text-align:left;font-size:.9rem}");
        sb.Append("th{background:#f3f4f6}pre{background:#f9fafb;padding:.75rem;overflow-x:auto}.fail{color:#b91c1c}.pass{color:#15803d}");
        sb.Append("section{border-top:2px solid #e5e7eb;padding-top:1rem;margin-top:1.5rem}.q{color:#4b5563;font-style:italic}");
        sb.Append("</style></head><body>");
        sb.Append("<h1>Coherent lab report</h1>");
        sb.Append("<p>").Append(E(environment)).Append(" — started ").Append(E(started.ToString("u", System.Globalization.CultureInfo.InvariantCulture))).Append("</p><ul>");
        foreach (var r in results)
        {
            sb.Append("<li><a href=\"#").Append(E(r.Name)).Append("\">").Append(E(r.Title)).Append("</a> ")
              .Append(r.Passed ? "<span class=\"pass\">ok</span>" : "<span class=\"fail\">bound broken</span>").Append("</li>");
        }

        sb.Append("</ul>");
        foreach (var r in results)
        {
            sb.Append("<section id=\"").Append(E(r.Name)).Append("\"><h2>").Append(E(r.Title)).Append("</h2><p class=\"q\">").Append(E(r.Question)).Append("</p>");
            if (r.Preformatted is { } pre)
            {
                sb.Append("<pre>").Append(E(pre)).Append("</pre>");
            }

            foreach (var t in r.Tables)
            {
                sb.Append("<h3>").Append(E(t.Title)).Append("</h3><table><thead><tr>");
                foreach (var c in t.Columns)
                {
                    sb.Append("<th>").Append(E(c)).Append("</th>");
                }

                sb.Append("</tr></thead><tbody>");
                foreach (var row in t.Rows)
                {
                    sb.Append("<tr>");
                    foreach (var cell in row)
                    {
                        sb.Append("<td>").Append(E(cell)).Append("</td>");
                    }

                    sb.Append("</tr>");
                }

                sb.Append("</tbody></table>");
            }

            foreach (var chart in r.Charts)
            {
                sb.Append("<figure>").Append(SvgChart.Render(chart)).Append("</figure>");
            }

            if (r.Notes.Count > 0)
            {
                sb.Append("<ul>");
                foreach (var n in r.Notes)
                {
                    sb.Append("<li>").Append(E(n)).Append("</li>");
                }

                sb.Append("</ul>");
            }

            sb.Append("</section>");
        }

        sb.Append("</body></html>");
        File.WriteAllText(path, sb.ToString());
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
