using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Shop;

/// <summary>
/// Listens to the <c>Coherent</c> meter and keeps, per family, histograms of served age and invalidation lag. Listening
/// turns the served-age instrument on, so the cache records it only in apps that ask for it, like this one.
/// </summary>
public sealed class StalenessCollector : IDisposable
{
    /// <summary>Upper bounds of the histogram buckets, in milliseconds (the last bucket is open).</summary>
    public static readonly double[] BoundsMs = [1, 10, 100, 1_000, 10_000, 60_000];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Instrument, string Family), long[]> _buckets = new();
    private readonly string _cacheName;

    /// <summary>Starts listening to the instruments of the cache named <paramref name="cacheName"/>.</summary>
    public StalenessCollector(string cacheName)
    {
        _cacheName = cacheName;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Coherent" && instrument.Name is "coherent.served_age" or "coherent.invalidation.lag")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>Counts per bucket, by instrument ("served_age" or "invalidation_lag") and family.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, long[]>> Snapshot()
    {
        var result = new Dictionary<string, IReadOnlyDictionary<string, long[]>>();
        foreach (var group in _buckets.GroupBy(b => b.Key.Instrument))
        {
            result[group.Key] = group.ToDictionary(g => g.Key.Family, g => g.Value.Select(v => Interlocked.Read(ref v)).ToArray());
        }

        return result;
    }

    private void OnMeasurement(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? family = null;
        string? cache = null;
        foreach (var tag in tags)
        {
            if (tag.Key == "coherent.family")
            {
                family = tag.Value as string;
            }
            else if (tag.Key == "coherent.cache")
            {
                cache = tag.Value as string;
            }
        }

        if (cache is not null && cache != _cacheName)
        {
            return;
        }

        var name = instrument.Name == "coherent.served_age" ? "served_age" : "invalidation_lag";
        var buckets = _buckets.GetOrAdd((name, family ?? "(all)"), _ => new long[BoundsMs.Length + 1]);
        var ms = value * 1000; // the instruments record seconds (OpenTelemetry's unit); the page buckets by ms
        var index = Array.FindIndex(BoundsMs, b => ms < b);
        Interlocked.Increment(ref buckets[index < 0 ? BoundsMs.Length : index]);
    }

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();
}
