using System.Diagnostics;
using Coherent.Local;
using Coherent.Policies;
using Coherent.SharedTier;
using Microsoft.Extensions.Logging;

namespace Coherent.Telemetry;

/// <summary>
/// The one funnel through which a cache operation reports what happened: per-family counters, log messages, histograms and
/// spans. Each method names an event once, so a read's outcome is counted in one place and a dashboard's counts add up
/// (every read ends in exactly one of l1_hit, l2_hit, computed, stale, early_refresh, miss, failed).
/// </summary>
/// <remarks>The L1 hit itself is recorded by the cache's hit path (one striped increment, measured): not through here.</remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Every event goes through the cache's one instance, whether or not its recording needs instance state today.")]
internal sealed class CacheEvents(CoherentTelemetry telemetry, ILogger logger, CacheClock clock)
{
    public CoherentTelemetry Telemetry => telemetry;

    public ILogger Logger => logger;

    /// <summary>Whether any span would be recorded (the fleet invalidation skips its traced frame otherwise).</summary>
    public static bool Tracing => CoherentTelemetry.ActivitySource.HasListeners();

    // ---- Outcomes of a read (each read ends in exactly one) ----

    /// <summary>A miss served from the shared tier.</summary>
    public void L2Hit(FamilyState family, CacheEntry? entry)
    {
        family.Stats.Misses.Increment();
        family.Stats.L2Hits.Increment();
        ServedAge(entry);
    }

    /// <summary>A miss a factory ran for (here, or a run this caller joined).</summary>
    public void Computed(FamilyState family, CacheEntry? entry)
    {
        family.Stats.Misses.Increment();
        family.Stats.Computed.Increment();
        ServedAge(entry);
    }

    /// <summary>A last value served instead of a fresh one: fail-safe, throttle, soft timeout, or another node computing.</summary>
    public void StaleServed(FamilyState family, CacheEntry? entry)
    {
        family.Stats.StaleServed.Increment();
        ServedAge(entry);
    }

    /// <summary>A lookup (TryGetAsync) that found nothing.</summary>
    public void NotFound(FamilyState family)
    {
        family.Stats.Misses.Increment();
        family.Stats.NotFound.Increment();
    }

    /// <summary>A read that threw or was cancelled: still a request that missed.</summary>
    public void FailedRead(FamilyState family)
    {
        family.Stats.Misses.Increment();
        family.Stats.FailedReads.Increment();
    }

    /// <summary>An L1 hit that started a background refresh (counted instead of a hit).</summary>
    public void EarlyRefresh(FamilyState family) => family.Stats.EarlyRefreshes.Increment();

    /// <summary>A caller joined a run already in flight.</summary>
    public void Joined(FamilyState family) => family.Stats.SingleFlightJoins.Increment();

    // ---- Writes ----

    public void Written(FamilyState family) => family.Stats.Writes.Increment();

    public void Invalidated(FamilyState family) => family.Stats.Invalidations.Increment();

    // ---- Factory runs ----

    public void FactoryStarted(FamilyState family) => family.Stats.FactoryRuns.Increment();

    public void FactoryFinished(FamilyState family, double ms)
    {
        family.Stats.RecordFactoryCost(ms);
        telemetry.RecordFactoryDuration(family, ms);
    }

    /// <summary>A factory threw or timed out (a timeout was logged when it fired); a background refresh also says so.</summary>
    public void FactoryFailed(string key, FamilyState family, Exception exception, bool background)
    {
        family.Stats.FactoryFailures.Increment();
        if (exception is not FactoryTimeoutException)
        {
            Log.FactoryFailed(logger, key, family.Name, exception);
        }

        if (background)
        {
            Log.BackgroundRefreshFailed(logger, key, family.Name, exception);
        }
    }

    public void FactoryTimedOut(string key, FamilyState family, TimeSpan timeout) => Log.FactoryTimedOut(logger, key, family.Name, timeout);

    /// <summary>Fail-safe served a caller the last value; each caller served is counted.</summary>
    public void FailSafeActivated(string key, FamilyState family, long ageMs)
    {
        family.Stats.FailSafeActivations.Increment();
        Log.FailSafeActivated(logger, key, family.Name, ageMs, family.Policy.FailSafeThrottle);
    }

    public void SoftTimeoutServedStale(string key, FamilyState family) => Log.SoftTimeoutServedStale(logger, key, family.Name);

    // ---- Fencing and the shared tier ----

    public void FencedResultDropped(string key) => Log.FencedResultDropped(logger, key);

    public void AddedTagsKeptLocal(string key) => Log.AddedTagsKeptLocal(logger, key);

    public void SharedReadFailed(string key, Exception exception) => Log.SharedReadFailed(logger, key, exception);

    public void SharedStoreFailed(string key, Exception exception) => Log.SharedStoreFailed(logger, key, exception);

    public void LocalEntriesDropped(int count, long beforeMs) => Log.LocalEntriesDropped(logger, count, DateTimeOffset.FromUnixTimeMilliseconds(beforeMs));

    /// <summary>An invalidation's lag from its publication; the key's family is resolved only while something listens.</summary>
    public void InvalidationLag(FamilyRegistry families, string key, double lagMs)
    {
        if (telemetry.InvalidationLag.Enabled)
        {
            telemetry.RecordInvalidationLag(families.Resolve(key), lagMs); // the tier measures in ms; recorded in seconds
        }
    }

    // ---- Histograms and spans ----

    /// <summary>How old a value served off the hit path was (misses, stale serves), at the exact clock; only while something listens.</summary>
    public void ServedAge(CacheEntry? entry)
    {
        if (entry is not null && telemetry.ServedAge.Enabled)
        {
            telemetry.RecordServedAge(entry.Family, entry.AgeMs(clock.PreciseNowMs()));
        }
    }

    /// <summary>
    /// A span for a step (L2 read or write, lease wait, fleet invalidation, factory run), a child of the caller's span
    /// (Activity.Current flows through the awaits). Without a listener this is one check and no allocation.
    /// </summary>
    public Activity? StartSpan(string name, string key, FamilyState family, ActivityKind kind = ActivityKind.Client)
    {
        if (!Tracing)
        {
            return null;
        }

        var span = CoherentTelemetry.ActivitySource.StartActivity(name, kind);
        span?.SetTag("coherent.key", key);
        span?.SetTag("coherent.family", family.Name);
        return span;
    }

    /// <summary>A span for a bulk call's one shared read of <paramref name="keys"/> keys (tag <c>coherent.keys</c>); null without a listener.</summary>
    public static Activity? StartBatchSpan(string name, int keys)
    {
        if (!Tracing)
        {
            return null;
        }

        var span = CoherentTelemetry.ActivitySource.StartActivity(name, ActivityKind.Client);
        span?.SetTag("coherent.keys", keys);
        return span;
    }

    /// <summary>The span's outcome: what the step ended in (hit, miss, stored, fenced, filled, ...).</summary>
    public static void SetOutcome(Activity? span, string outcome) => span?.SetTag("coherent.outcome", outcome);

    /// <summary>A step that threw: outcome <c>failed</c> and an error status (the cache goes on without the shared tier).</summary>
    public static void SetFailed(Activity? span, Exception exception)
    {
        span?.SetTag("coherent.outcome", "failed");
        span?.SetStatus(ActivityStatusCode.Error, exception.Message);
    }

    /// <summary>An L2 read's outcome for its span.</summary>
    public static string ReadOutcome(in SharedTierRead result) =>
        result.Status switch { SharedTierReadStatus.Unavailable => "unavailable", SharedTierReadStatus.Hit => "hit", _ => "miss" };
}
