using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;
using Coherent.Policies;

namespace Coherent.Telemetry;

/// <summary>
/// The <c>Coherent</c> meter and activity source. Request counts are observable instruments read from striped
/// per-family counters, so the hit path pays nothing for metrics whether or not anyone listens.
/// </summary>
internal sealed class CoherentTelemetry : IDisposable
{
    public const string Name = CoherentTelemetryNames.MeterName;

    public static readonly ActivitySource ActivitySource = new(CoherentTelemetryNames.ActivitySourceName);

    /// <summary>The assembly's informational version (the package version), given to the meter.</summary>
    internal static readonly string? Version = typeof(CoherentTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;

    private readonly Meter _meter;

    /// <summary>False for a meter factory's meter: the factory disposes it, with the container.</summary>
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _cacheTag;

    public CoherentTelemetry(string cacheName, FamilyRegistry families, Func<long> l1Count, Func<long> pendingInvalidations, IMeterFactory? meterFactory = null)
    {
        _cacheTag = new("coherent.cache", cacheName);

        // The cache's name is a meter tag too: a meter factory hands out one meter per name, version and tags, so each cache
        // gets a meter of its own and its instruments are not published twice on one meter.
        var options = new MeterOptions(Name) { Version = Version, Tags = [_cacheTag] };
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(options) ?? new Meter(options);
        // Durations in seconds, counts with a curly-brace annotation: OpenTelemetry's semantic conventions, so exporters
        // and dashboards built for them (histogram buckets, unit conversion) read the instruments right.
        FactoryDuration = _meter.CreateHistogram<double>("coherent.factory.duration", "s", "How long factory runs took.");
        ServedAge = _meter.CreateHistogram<double>("coherent.served_age", "s", "How old (since computed) each value was when served.");
        InvalidationLag = _meter.CreateHistogram<double>("coherent.invalidation.lag", "s", "From an invalidation's publication to its arrival on this node.");

        _meter.CreateObservableCounter("coherent.requests", () => ObserveRequests(families), "{request}", description: "One count per read, by family and coherent.outcome: l1_hit (fresh from L1); l2_hit (read from the shared tier); computed (a factory ran for it, here or joined); stale (fail-safe, soft timeout, throttle, or another node computing); early_refresh (an L1 hit that started a background refresh); miss (TryGetAsync found nothing); failed (the read threw or was cancelled).");
        _meter.CreateObservableCounter("coherent.single_flight.joins", () => Observe(families, static s => s.SingleFlightJoins, null), "{request}", description: "Callers that joined a factory run already in flight.");
        _meter.CreateObservableCounter("coherent.fail_safe.activations", () => Observe(families, static s => s.FailSafeActivations, null), "{activation}", description: "Times a stale value was served because the factory failed or timed out.");
        _meter.CreateObservableCounter("coherent.factory.failures", () => Observe(families, static s => s.FactoryFailures, null), "{run}", description: "Factory runs that threw or timed out.");
        _meter.CreateObservableCounter("coherent.writes", () => Observe(families, static s => s.Writes, null), "{write}", description: "SetAsync calls.");
        _meter.CreateObservableCounter("coherent.invalidations", () => Observe(families, static s => s.Invalidations, null), "{invalidation}", description: "InvalidateAsync calls.");
        _meter.CreateObservableCounter("coherent.evictions", () => new Measurement<long>(Evictions.Value, _cacheTag), "{entry}", description: "Entries evicted from L1 by the size bound.");
        _meter.CreateObservableUpDownCounter("coherent.l1.entries", () => new Measurement<long>(l1Count(), _cacheTag), "{entry}", description: "Entries in L1.");
        _meter.CreateObservableCounter("coherent.clock.stalls", () => new Measurement<long>(Local.CacheClock.Stalls.Count, _cacheTag), "{stall}", description: "Times (process-wide) the clock thread found the cheap clock more than 50 ms behind: the process was not scheduled. Hits judged just before it ran again may have been served past their bound by up to the lag.");
        _meter.CreateObservableUpDownCounter("coherent.invalidations.pending", () => new Measurement<long>(pendingInvalidations(), _cacheTag), "{invalidation}", description: "Invalidations not yet applied to the shared tier (retrying).");
    }

    public Histogram<double> FactoryDuration { get; }
    public Histogram<double> ServedAge { get; }
    public Histogram<double> InvalidationLag { get; }
    public StripedCounter Evictions { get; } = new();

    // The engine keeps milliseconds (its clock and policies are in ms); the instruments get seconds.
    public void RecordServedAge(FamilyState family, long ageMs) =>
        ServedAge.Record(ageMs / 1000.0, _cacheTag, new("coherent.family", family.Name));

    public void RecordFactoryDuration(FamilyState family, double ms) =>
        FactoryDuration.Record(ms / 1000.0, _cacheTag, new("coherent.family", family.Name));

    public void RecordInvalidationLag(FamilyState family, double ms) =>
        InvalidationLag.Record(Math.Max(0, ms) / 1000.0, _cacheTag, new("coherent.family", family.Name));

    /// <summary>Every read once: summed over outcomes, the number of reads; l1_hit / (l1_hit + l2_hit + computed) charts the two levels.</summary>
    private IEnumerable<Measurement<long>> ObserveRequests(FamilyRegistry families) =>
        Observe(families, static s => s.Hits, "l1_hit")
            .Concat(Observe(families, static s => s.L2Hits, "l2_hit"))
            .Concat(Observe(families, static s => s.Computed, "computed"))
            .Concat(Observe(families, static s => s.StaleServed, "stale"))
            .Concat(Observe(families, static s => s.EarlyRefreshes, "early_refresh"))
            .Concat(Observe(families, static s => s.NotFound, "miss"))
            .Concat(Observe(families, static s => s.FailedReads, "failed"));

    private IEnumerable<Measurement<long>> Observe(FamilyRegistry families, Func<FamilyStats, StripedCounter> counter, string? outcome)
    {
        foreach (var family in families.All)
        {
            yield return outcome is null
                ? new Measurement<long>(counter(family.Stats).Value, _cacheTag, new("coherent.family", family.Name))
                : new Measurement<long>(counter(family.Stats).Value, _cacheTag, new("coherent.family", family.Name), new("coherent.outcome", outcome));
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
