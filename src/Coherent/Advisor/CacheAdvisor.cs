using Coherent.Policies;

namespace Coherent;

/// <summary>Turns per-family counters into a verdict on whether caching helps.</summary>
internal static class CacheAdvisor
{
    /// <summary>Below this many reads a family is not judged.</summary>
    public const long MinReads = 100;

    public static AdvisorReport Analyze(FamilyRegistry families)
    {
        var rows = new List<FamilyAdvice>();
        foreach (var family in families.All)
        {
            var s = family.Stats;
            var hits = s.Hits.Value + s.EarlyRefreshes.Value + s.StaleServed.Value;
            var misses = s.Misses.Value;
            var reads = hits + misses;
            var writes = s.Writes.Value + s.Invalidations.Value;
            if (reads == 0 && writes == 0)
            {
                continue;
            }

            var hitRatio = reads == 0 ? 0 : (double)hits / reads;
            var writesPer1000 = reads == 0 ? double.PositiveInfinity : writes * 1000.0 / reads;
            var median = s.MedianFactoryCostMs();
            var saved = hits * (median ?? 0);
            var (verdict, why) = Judge(reads, hitRatio, writesPer1000);
            rows.Add(new FamilyAdvice(family.Name, reads, hitRatio, writesPer1000, median, saved, verdict, why));
        }

        return new AdvisorReport(rows.OrderBy(r => r.Family, StringComparer.Ordinal).ToList());
    }

    internal static (AdvisorVerdict, string) Judge(long reads, double hitRatio, double writesPer1000)
    {
        if (reads < MinReads)
        {
            return (AdvisorVerdict.NotEnoughData, $"fewer than {MinReads} reads so far");
        }

        if (writesPer1000 >= 500)
        {
            return (AdvisorVerdict.DoesNotHelp, "invalidated about as often as it is read: each cached value is rarely read before it changes");
        }

        if (hitRatio < 0.10)
        {
            return (AdvisorVerdict.DoesNotHelp, "under 10% of reads hit: the cache mostly adds a lookup and staleness");
        }

        if (hitRatio < 0.5 || writesPer1000 >= 100)
        {
            return (AdvisorVerdict.Marginal, "some reads hit, but many miss or are invalidated: check the TTL and the write rate");
        }

        return (AdvisorVerdict.Helps, "most reads are served from the cache");
    }
}
