using System.Text.Json;

namespace Coherent.Diagnostics;

/// <summary>The page's data as JSON, written by hand (no reflection: the package is trimming- and AOT-safe).</summary>
internal static class DiagnosticsJson
{
    public static void Write(Utf8JsonWriter json, IReadOnlyList<CacheDiagnostics> caches)
    {
        json.WriteStartObject();
        json.WriteStartArray("histogramBoundsMs");
        foreach (var bound in TelemetryCollector.BoundsMs)
        {
            json.WriteNumberValue(bound);
        }

        json.WriteEndArray();
        json.WriteStartArray("caches");
        foreach (var cache in caches)
        {
            WriteCache(json, cache);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteCache(Utf8JsonWriter json, CacheDiagnostics cache)
    {
        json.WriteStartObject();
        json.WriteString("cache", cache.Name);
        json.WriteString("serviceKey", cache.ServiceKey);
        json.WriteString("sharedTier", cache.State.ToString());
        json.WriteBoolean("healthy", cache.Healthy);
        json.WriteNumber("pendingInvalidations", cache.PendingInvalidations);
        json.WriteNumber("localEntries", cache.LocalEntries);

        json.WriteStartArray("policies");
        foreach (var p in cache.Policies.Rows)
        {
            json.WriteStartObject();
            json.WriteString("family", p.Family);
            json.WriteString("maxStaleness", p.MaxStaleness.ToString());
            json.WriteString("ttl", p.Ttl.ToString());
            json.WriteString("localTtl", p.LocalTtl.ToString());
            json.WriteNumber("jitter", p.Jitter);
            Number(json, "earlyRefreshBeta", p.EarlyRefreshBeta);
            json.WriteString("failSafeMaxAge", p.FailSafeMaxAge?.ToString());
            json.WriteString("reason", p.Reason);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartObject("outcomes");
        foreach (var (family, counts) in cache.Outcomes.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            json.WriteStartObject(family);
            foreach (var outcome in CacheDiagnostics.OutcomeNames)
            {
                json.WriteNumber(outcome, counts.GetValueOrDefault(outcome));
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();

        json.WriteStartArray("advisor");
        foreach (var f in cache.Advice.Families)
        {
            json.WriteStartObject();
            json.WriteString("family", f.Family);
            json.WriteNumber("reads", f.Reads);
            json.WriteNumber("hitRatio", f.HitRatio);
            Number(json, "writesPer1000Reads", double.IsFinite(f.WritesPer1000Reads) ? f.WritesPer1000Reads : null);
            Number(json, "medianFactoryCostMs", f.MedianFactoryCostMs);
            json.WriteString("verdict", f.Verdict.ToString());
            json.WriteString("explanation", f.Explanation);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartObject("histograms");
        foreach (var (instrument, families) in cache.Histograms.OrderBy(i => i.Key, StringComparer.Ordinal))
        {
            json.WriteStartObject(instrument);
            foreach (var (family, counts) in families.OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                json.WriteStartArray(family);
                foreach (var count in counts)
                {
                    json.WriteNumberValue(count);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
