using System.Globalization;
using System.Text;
using Coherent.Policies;

namespace Coherent;

/// <summary>
/// The declared policy table: the "write down the TTL" conversation made reviewable. <see cref="ToString"/> renders it as
/// an aligned text table; <see cref="Rows"/> gives the data.
/// </summary>
public sealed class PolicyReport
{
    private PolicyReport(IReadOnlyList<FamilyPolicy> rows, bool strict, IReadOnlyList<string> notes)
    {
        Rows = rows;
        Strict = strict;
        Notes = notes;
    }

    /// <summary>One policy per declared family, ordered by family name.</summary>
    public IReadOnlyList<FamilyPolicy> Rows { get; }

    /// <summary>Whether undeclared families are refused.</summary>
    public bool Strict { get; }

    /// <summary>
    /// Where the bound a family really gets differs from its declared MaxStaleness because of the shared tier in use
    /// (one that cannot fence a stale set, or has no invalidation bus), and where the shared tier keeps a fail-safe
    /// family's values past their ttl. Empty when every declared bound holds as written and nothing is kept longer.
    /// </summary>
    public IReadOnlyList<string> Notes { get; }

    internal static PolicyReport From(FamilyRegistry registry, SharedTier.SharedTierGuarantees? tier = null)
    {
        var rows = registry.Declared.Select(f => f.Policy).OrderBy(p => p.Family, StringComparer.Ordinal).ToList();
        var notes = new List<string>();
        if (tier is { } guarantees && !guarantees.HasFlag(SharedTier.SharedTierGuarantees.FencedStores))
        {
            foreach (var p in rows.Where(p => p.Ttl > p.MaxStaleness))
            {
                notes.Add($"{p.Family}: bound {FormatDuration(p.Ttl)} (its ttl), not {FormatDuration(p.MaxStaleness)}: the shared tier cannot fence a stale set, which then stays in it until it expires.");
            }
        }

        if (tier is not null)
        {
            // The shared tier keeps a fail-safe family's value past its ttl (for a node whose L1 never held it): say how long.
            foreach (var p in rows.Where(p => p.FailSafeMaxAge > p.Ttl))
            {
                notes.Add($"{p.Family}: kept in the shared tier up to {FormatDuration(p.FailSafeMaxAge)} after it was computed, not {FormatDuration(p.Ttl)} (its ttl): fail-safe serves it from there when the factory fails, never as fresh and never once invalidated.");
            }
        }

        if (tier is { } announced && announced.HasFlag(SharedTier.SharedTierGuarantees.InvalidationBus | SharedTier.SharedTierGuarantees.AnnouncedAfterWrite))
        {
            foreach (var p in rows.Where(p => p.LocalTtl > p.MaxStaleness))
            {
                notes.Add($"{p.Family}: bound {FormatDuration(p.LocalTtl)} (its local ttl), not {FormatDuration(p.MaxStaleness)}, if a writer dies between its write and the bus announcement, which this shared tier sends after the write.");
            }
        }

        if (tier is { } bus && !bus.HasFlag(SharedTier.SharedTierGuarantees.InvalidationBus))
        {
            notes.Add("No invalidation bus: every L1 copy lives at most its family's max-staleness.");
        }

        return new(rows, registry.Strict, notes);
    }

    /// <summary>Formats a duration the way people read policies: 500ms, 5s, 10m, 2h, 1d.</summary>
    public static string FormatDuration(TimeSpan? value) => value switch
    {
        null => "-",
        { } v when v.TotalDays >= 1 && v.TotalDays % 1 == 0 => $"{v.TotalDays:0}d",
        { } v when v.TotalHours >= 1 && v.TotalHours % 1 == 0 => $"{v.TotalHours:0}h",
        { } v when v.TotalMinutes >= 1 && v.TotalMinutes % 1 == 0 => $"{v.TotalMinutes:0}m",
        { } v when v.TotalSeconds >= 1 => string.Create(CultureInfo.InvariantCulture, $"{v.TotalSeconds:0.###}s"),
        { } v => string.Create(CultureInfo.InvariantCulture, $"{v.TotalMilliseconds:0.###}ms"),
    };

    /// <summary>The table as aligned text, one family per line, with a header.</summary>
    public override string ToString()
    {
        string[] header = ["family", "max-staleness", "ttl", "local-ttl", "jitter", "early-refresh", "fail-safe", "timeouts (soft/hard)", "reason"];
        var lines = new List<string[]> { header };
        foreach (var p in Rows)
        {
            lines.Add([
                p.Family,
                FormatDuration(p.MaxStaleness),
                FormatDuration(p.Ttl),
                FormatDuration(p.LocalTtl),
                string.Create(CultureInfo.InvariantCulture, $"±{p.Jitter:P0}"),
                p.EarlyRefreshBeta is { } b ? string.Create(CultureInfo.InvariantCulture, $"xfetch β={b:0.##}") : "off",
                p.FailSafeMaxAge is { } fs ? $"{FormatDuration(fs)} (throttle {FormatDuration(p.FailSafeThrottle)})" : "off",
                $"{FormatDuration(p.SoftTimeout)}/{FormatDuration(p.HardTimeout)}",
                p.Reason ?? "",
            ]);
        }

        var widths = Enumerable.Range(0, header.Length).Select(i => lines.Max(l => l[i].Length)).ToArray();
        var sb = new StringBuilder();
        sb.AppendLine(Strict ? "Coherent policies (strict: undeclared families are refused)" : "Coherent policies (undeclared families use the default policy)");
        foreach (var line in lines)
        {
            sb.AppendLine(string.Join("  ", line.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }

        foreach (var note in Notes)
        {
            sb.AppendLine("note: " + note);
        }

        return sb.ToString();
    }
}
