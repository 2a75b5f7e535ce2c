using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Coherent.Diagnostics;

/// <summary>
/// Listens to the <c>Coherent</c> meter for the page: histograms of served age and invalidation lag per cache and family,
/// and the request counts by outcome, read on demand. Listening turns the served-age instrument on, so the caches record
/// it only in apps that map the page (or export the meter).
/// </summary>
internal sealed class TelemetryCollector : IDisposable
{
    /// <summary>Upper bounds of the histogram buckets, in milliseconds (the last bucket is open).</summary>
    public static readonly double[] BoundsMs = [1, 10, 100, 1_000, 10_000, 60_000];

    public const string ServedAge = "served_age";
    public const string InvalidationLag = "invalidation_lag";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Cache, string Instrument, string Family), long[]> _buckets = new();

    // Filled only inside Outcomes(), under its lock: the request counter is observable, read when asked for.
    private readonly Dictionary<(string Cache, string Family, string Outcome), long> _outcomes = [];
    private readonly object _outcomesLock = new();

    public TelemetryCollector()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == CoherentTelemetryNames.MeterName
                && instrument.Name is "coherent.served_age" or "coherent.invalidation.lag" or "coherent.requests")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>(OnHistogram);
        _listener.SetMeasurementEventCallback<long>(OnRequests);
        _listener.Start();
    }

    /// <summary>Counts per bucket for one cache, by instrument (<see cref="ServedAge"/>, <see cref="InvalidationLag"/>) and family.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, long[]>> Histograms(string cache)
    {
        var result = new Dictionary<string, IReadOnlyDictionary<string, long[]>>(StringComparer.Ordinal);
        foreach (var group in _buckets.Where(b => b.Key.Cache == cache).GroupBy(b => b.Key.Instrument, StringComparer.Ordinal))
        {
            result[group.Key] = group.ToDictionary(g => g.Key.Family, g => (long[])g.Value.Clone(), StringComparer.Ordinal);
        }

        return result;
    }

    /// <summary>Reads since start, for one cache, by family and outcome (<c>l1_hit</c>, <c>l2_hit</c>, <c>computed</c>, ...).</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>> Outcomes(string cache)
    {
        lock (_outcomesLock)
        {
            _outcomes.Clear();
            _listener.RecordObservableInstruments();
            return _outcomes.Where(o => o.Key.Cache == cache)
                .GroupBy(o => o.Key.Family, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, long>)g.ToDictionary(o => o.Key.Outcome, o => o.Value, StringComparer.Ordinal), StringComparer.Ordinal);
        }
    }

    private void OnHistogram(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var (cache, family, _) = Read(tags);
        var name = instrument.Name == "coherent.served_age" ? ServedAge : InvalidationLag;
        var buckets = _buckets.GetOrAdd((cache ?? "", name, family ?? "(all)"), _ => new long[BoundsMs.Length + 1]);
        var ms = value * 1000; // the instruments record seconds (OpenTelemetry's unit); the page buckets by ms
        var index = Array.FindIndex(BoundsMs, b => ms < b);
        Interlocked.Increment(ref buckets[index < 0 ? BoundsMs.Length : index]);
    }

    // Called only from RecordObservableInstruments, inside Outcomes()'s lock.
    private void OnRequests(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var (cache, family, outcome) = Read(tags);
        if (cache is not null && family is not null && outcome is not null)
        {
            _outcomes[(cache, family, outcome)] = _outcomes.GetValueOrDefault((cache, family, outcome)) + value;
        }
    }

    private static (string? Cache, string? Family, string? Outcome) Read(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? cache = null, family = null, outcome = null;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case "coherent.cache": cache = tag.Value as string; break;
                case "coherent.family": family = tag.Value as string; break;
                case "coherent.outcome": outcome = tag.Value as string; break;
            }
        }

        return (cache, family, outcome);
    }

    public void Dispose() => _listener.Dispose();
}
