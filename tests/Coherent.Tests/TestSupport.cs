using System.Buffers;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>Shared setup: a fake clock at a fixed instant and a builder whose cache name is unique per test (metrics are filtered by it).</summary>
internal static class T
{
    public static readonly DateTimeOffset Start = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static FakeTimeProvider Clock() => new(Start);

    public static CoherentCacheBuilder Builder(FakeTimeProvider time, [CallerMemberName] string name = "") =>
        new CoherentCacheBuilder().WithTimeProvider(time).WithName($"{name}-{Guid.NewGuid():N}");

    /// <summary>A builder with one family "price": no jitter, no early refresh, the given TTL.</summary>
    public static CoherentCacheBuilder Price(FakeTimeProvider time, TimeSpan? ttl = null, Action<FamilyPolicyBuilder>? more = null, [CallerMemberName] string name = "") =>
        Builder(time, name).Define("price", p =>
        {
            p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(ttl ?? TimeSpan.FromMinutes(1)).Jitter(0).NoEarlyRefresh();
            more?.Invoke(p);
        });

    public static TaskCompletionSource Gate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static TaskCompletionSource<TValue> Gate<TValue>() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Bounded spin for things that happen on another thread (BitFaster maintenance, background flights).</summary>
    public static async Task Until(Func<bool> condition, string what, int timeoutMs = 5000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }

            await Task.Delay(5);
        }
    }

    public static async Task Until(Func<Task<bool>> condition, string what, int timeoutMs = 5000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!await condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>Awaits a task that must finish soon (a deadlock or lost wake-up fails the test instead of hanging it).</summary>
    public static async Task<TResult> Soon<TResult>(Task<TResult> task, int timeoutMs = 5000) => await task.WaitAsync(TimeSpan.FromMilliseconds(timeoutMs));

    public static async Task Soon(Task task, int timeoutMs = 5000) => await task.WaitAsync(TimeSpan.FromMilliseconds(timeoutMs));

    public static ValueTask<TValue> Value<TValue>(TValue value) => ValueTask.FromResult(value);
}

/// <summary>
/// A fake clock whose wall time can be stepped (NTP, a resumed VM) while its monotonic timestamp and timers go on as the
/// inner <see cref="FakeTimeProvider"/>'s do.
/// </summary>
internal sealed class SteppingTimeProvider(FakeTimeProvider inner) : TimeProvider
{
    private TimeSpan _step;

    public FakeTimeProvider Inner => inner;

    /// <summary>Moves the wall clock alone (negative: back).</summary>
    public void StepWallClock(TimeSpan by) => _step += by;

    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow() + _step;

    public override long GetTimestamp() => inner.GetTimestamp();

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => inner.CreateTimer(callback, state, dueTime, period);
}

/// <summary>A Random whose draws are chosen by the test (jitter and the XFetch coin both use NextDouble).</summary>
internal sealed class FixedRandom(double value) : Random
{
    public double Draw { get; set; } = value;

    public override double NextDouble() => Draw;

    protected override double Sample() => Draw;
}

/// <summary>
/// Reads the Coherent meter's instruments for one cache (by its <c>coherent.cache</c> tag). A MeterListener rather than
/// MetricCollector: every cache has its own Meter named "Coherent", and tests run in parallel, so the listener takes all of
/// them and filters measurements by the cache's unique name.
/// </summary>
internal sealed class Metrics : IDisposable
{
    private readonly string _cache;
    private readonly MeterListener _listener = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags, bool Observable)> _seen = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Meter> _meters = new();
    private readonly Lock _observeLock = new();

    public Metrics(string cacheName)
    {
        _cache = cacheName;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Coherent")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var dict = new Dictionary<string, object?>();
        foreach (var t in tags)
        {
            dict[t.Key] = t.Value;
        }

        if (Equals(dict.GetValueOrDefault("coherent.cache"), _cache))
        {
            _seen.Enqueue((instrument.Name, value, dict, instrument.IsObservable));
            _meters[instrument.Name] = instrument.Meter;
        }
    }

    private static bool Match(Dictionary<string, object?> tags, string? family, string? outcome) =>
        (family is null || Equals(tags.GetValueOrDefault("coherent.family"), family))
        && (outcome is null || Equals(tags.GetValueOrDefault("coherent.outcome"), outcome));

    /// <summary>The current value of an observable counter for this cache (optionally one family / outcome).</summary>
    public long Counter(string instrument, string? family = null, string? outcome = null)
    {
        lock (_observeLock)
        {
            var before = _seen.Count;
            _listener.RecordObservableInstruments();
            return (long)_seen.Skip(before).Where(m => m.Observable && m.Instrument == instrument && Match(m.Tags, family, outcome)).Sum(m => m.Value);
        }
    }

    /// <summary>Values recorded so far on a histogram for this cache (optionally one family).</summary>
    public IReadOnlyList<double> Histogram(string instrument, string? family = null) =>
        _seen.Where(m => !m.Observable && m.Instrument == instrument && Match(m.Tags, family, null)).Select(m => m.Value).ToList();

    /// <summary>The meter of an instrument this cache has reported on.</summary>
    public Meter? MeterOf(string instrument) => _meters.GetValueOrDefault(instrument);

    public void Dispose() => _listener.Dispose();
}

/// <summary>A serializer that can be told to fail, for the bad-input tests.</summary>
internal sealed class FlakySerializer : ICacheSerializer
{
    public bool FailSerialize { get; set; }
    public bool FailDeserialize { get; set; }

    public void Serialize<TValue>(TValue value, IBufferWriter<byte> destination)
    {
        if (FailSerialize)
        {
            throw new InvalidOperationException("serializer broke");
        }

        JsonCacheSerializer.Default.Serialize(value, destination);
    }

    public TValue Deserialize<TValue>(ReadOnlySequence<byte> source)
    {
        if (FailDeserialize)
        {
            throw new InvalidOperationException("deserializer broke");
        }

        return JsonCacheSerializer.Default.Deserialize<TValue>(source);
    }
}
