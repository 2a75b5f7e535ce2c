using System.Diagnostics;

namespace Coherent.Tests;

public sealed class TelemetryTests
{
    [Fact]
    public async Task Requests_are_counted_by_family_and_outcome()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10)).Define("stock", p => p.MaxStaleness(TimeSpan.FromSeconds(1))).Build();
        using var metrics = new Metrics(cache.Name);

        await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct);   // miss
        await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct);   // hit
        await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct);   // hit
        await cache.TryGetAsync<int>("price:1", T.Ct);                                     // hit
        await cache.TryGetAsync<int>("price:2", T.Ct);                                     // found nothing
        await cache.GetOrSetAsync("stock:1", _ => T.Value(1), cancellationToken: T.Ct);   // miss
        await cache.SetAsync("stock:2", 2, cancellationToken: T.Ct);
        await cache.InvalidateAsync("stock:1", T.Ct);

        Assert.Equal(3, metrics.Counter("coherent.requests", "price", "l1_hit"));
        Assert.Equal(1, metrics.Counter("coherent.requests", "price", "computed"));
        Assert.Equal(1, metrics.Counter("coherent.requests", "price", "miss"));
        Assert.Equal(0, metrics.Counter("coherent.requests", "price", "l2_hit")); // no shared tier
        Assert.Equal(5, metrics.Counter("coherent.requests", "price")); // each read once
        Assert.Equal(0, metrics.Counter("coherent.requests", "stock", "l1_hit"));
        Assert.Equal(1, metrics.Counter("coherent.requests", "stock", "computed"));
        Assert.Equal(1, metrics.Counter("coherent.writes", "stock"));
        Assert.Equal(1, metrics.Counter("coherent.invalidations", "stock"));
        Assert.Equal(0, metrics.Counter("coherent.writes", "price"));
    }

    [Fact]
    public async Task Factory_duration_and_served_age_are_recorded()
    {
        var time = T.Clock();
        await using var cache = T.Price(time).Build();
        using var metrics = new Metrics(cache.Name);

        await cache.GetOrSetAsync("price:1", _ => { time.Advance(TimeSpan.FromMilliseconds(250)); return T.Value(1); }, cancellationToken: T.Ct);
        Assert.Equal([0.25], metrics.Histogram("coherent.factory.duration", "price")); // seconds, as OpenTelemetry says

        time.Advance(TimeSpan.FromSeconds(3));
        await cache.GetOrSetAsync("price:1", _ => T.Value(2), cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(4));
        await cache.GetOrSetAsync("price:1", _ => T.Value(2), cancellationToken: T.Ct);
        Assert.Equal([0.0, 3.0, 7.0], metrics.Histogram("coherent.served_age", "price")); // the miss served a value 0 s old
    }

    [Fact]
    public async Task Every_read_is_counted_once_with_its_outcome()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10), p => p.FailSafe(TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5))).Build();
        using var metrics = new Metrics(cache.Name);

        // Ten callers on a cold key: one runs the factory, nine join it; all ten got a computed value.
        var gate = T.Gate<int>();
        var reads = Enumerable.Range(0, 10).Select(_ => cache.GetOrSetAsync("price:1", _ => new ValueTask<int>(gate.Task), cancellationToken: T.Ct).AsTask()).ToList();
        await T.Until(() => cache.Diagnostics.FlightCount == 1 && metrics.Counter("coherent.single_flight.joins", "price", null) == 9, "nine callers joined");
        gate.SetResult(1);
        await Task.WhenAll(reads);
        Assert.Equal(10, metrics.Counter("coherent.requests", "price", "computed"));
        Assert.Equal(9, metrics.Counter("coherent.single_flight.joins", "price", null));

        // Expired, and the factory fails: each of the three callers served the last value is one stale read (one activation).
        time.Advance(TimeSpan.FromSeconds(20));
        var failing = T.Gate<int>();
        var staleReads = Enumerable.Range(0, 3).Select(_ => cache.GetOrSetAsync("price:1", _ => new ValueTask<int>(failing.Task), cancellationToken: T.Ct).AsTask()).ToList();
        await T.Until(() => metrics.Counter("coherent.single_flight.joins", "price", null) == 11, "two more callers joined");
        failing.SetException(new InvalidOperationException("source down"));
        var served = await Task.WhenAll(staleReads);
        Assert.All(served, v => Assert.Equal(1, v));
        Assert.Equal(3, metrics.Counter("coherent.requests", "price", "stale"));
        Assert.Equal(10, metrics.Counter("coherent.requests", "price", "computed"));
        Assert.Equal(1, metrics.Counter("coherent.fail_safe.activations", "price", null));

        // A read that fails outright is counted as failed; the L1 hit, computed and stale reads are told apart.
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await cache.GetOrSetAsync<int>("price:2", _ => throw new InvalidOperationException(), cancellationToken: T.Ct));
        Assert.Equal(1, metrics.Counter("coherent.requests", "price", "failed"));
        Assert.Equal(10, metrics.Counter("coherent.requests", "price", "computed"));
        Assert.Equal(0, metrics.Counter("coherent.requests", "price", "l1_hit"));
        Assert.Equal(0, metrics.Counter("coherent.requests", "price", "miss"));
        await cache.GetOrSetAsync("price:3", _ => T.Value(3), cancellationToken: T.Ct);
        await cache.GetOrSetAsync("price:3", _ => T.Value(3), cancellationToken: T.Ct);
        Assert.Equal(1, metrics.Counter("coherent.requests", "price", "l1_hit"));
        Assert.Equal(16, metrics.Counter("coherent.requests", "price")); // every read once, whatever its outcome
    }

    [Fact]
    public async Task Served_age_includes_stale_values_served_by_fail_safe()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10), p => p.FailSafe(TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5))).Build();
        using var metrics = new Metrics(cache.Name);
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(1, await cache.GetOrSetAsync<int>("price:1", _ => throw new InvalidOperationException(), cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await cache.GetOrSetAsync<int>("price:1", _ => throw new InvalidOperationException(), cancellationToken: T.Ct)); // throttled

        // The staleness contract is measured: the 20 s and 22 s old values show up in the served-age histogram.
        Assert.Equal([20.0, 22.0], metrics.Histogram("coherent.served_age", "price"));
    }

    [Fact]
    public async Task Every_instrument_has_a_unit_and_durations_are_in_seconds()
    {
        var units = new System.Collections.Concurrent.ConcurrentDictionary<string, string?>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name == "Coherent" && instrument.Name.StartsWith("coherent.", StringComparison.Ordinal) && !instrument.Name.StartsWith("coherent.redis.", StringComparison.Ordinal))
            {
                units[instrument.Name] = instrument.Unit;
            }
        };
        listener.Start();
        await using var cache = T.Price(T.Clock()).Build();

        Assert.Equal("s", units["coherent.factory.duration"]);
        Assert.Equal("s", units["coherent.served_age"]);
        Assert.Equal("s", units["coherent.invalidation.lag"]);
        Assert.Equal("{request}", units["coherent.requests"]);
        Assert.Equal("{entry}", units["coherent.l1.entries"]);
        Assert.Equal("{invalidation}", units["coherent.invalidations"]);
        Assert.True(units.Count >= 12, $"{units.Count} instruments seen");
        Assert.All(units, u => Assert.False(string.IsNullOrEmpty(u.Value), $"{u.Key} has no unit"));
    }

    [Fact]
    public async Task Evictions_joins_and_fail_safe_activations_are_counted()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10), p => p.FailSafe(TimeSpan.FromMinutes(1))).WithLocalCapacity(10).Build();
        using var metrics = new Metrics(cache.Name);

        for (var i = 0; i < 100; i++)
        {
            await cache.SetAsync($"price:{i}", i, cancellationToken: T.Ct);
        }

        await T.Until(() => metrics.Counter("coherent.evictions") >= 90, "evictions counted");

        var started = T.Gate();
        var release = T.Gate();
        var a = cache.GetOrSetAsync("price:x", async _ => { started.TrySetResult(); await release.Task; return 1; }, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);
        var b = cache.GetOrSetAsync("price:x", _ => T.Value(2), cancellationToken: T.Ct).AsTask();
        var c = cache.GetOrSetAsync("price:x", _ => T.Value(3), cancellationToken: T.Ct).AsTask();
        Assert.Equal(2, metrics.Counter("coherent.single_flight.joins", "price"));
        release.SetResult();
        var all = await T.Soon(Task.WhenAll(a, b, c));
        Assert.Equal([1, 1, 1], all);

        await cache.SetAsync("price:fs", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(0, metrics.Counter("coherent.fail_safe.activations", "price"));
        Assert.Equal(1, await cache.GetOrSetAsync<int>("price:fs", _ => throw new TimeoutException(), cancellationToken: T.Ct));
        Assert.Equal(1, metrics.Counter("coherent.fail_safe.activations", "price"));
    }

    [Fact]
    public async Task Metrics_can_be_collected_while_a_cache_is_being_built()
    {
        // A collector (an OpenTelemetry exporter, say) may observe instruments the moment they are published, which is
        // inside the cache's constructor. The L1 entry count callback used to dereference a not-yet-assigned field.
        Exception? failure = null;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Coherent" && instrument.Name == "coherent.l1.entries")
            {
                l.EnableMeasurementEvents(instrument);
                try
                {
                    l.RecordObservableInstruments();
                }
                catch (Exception ex)
                {
                    failure ??= ex;
                }
            }
        };
        listener.Start();
        await using var cache = T.Price(T.Clock()).Build();
        Assert.Null(failure);
    }

    [Fact]
    public async Task Factory_runs_are_wrapped_in_coherent_factory_spans()
    {
        var key = $"price:{Guid.NewGuid():N}";
        var spans = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Coherent",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if (Equals(a.GetTagItem("coherent.key"), key))
                {
                    spans.Enqueue(a);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        await using var cache = T.Price(T.Clock()).Build();
        Activity? inside = null;
        await cache.GetOrSetAsync(key, _ => { inside = Activity.Current; return T.Value(1); }, cancellationToken: T.Ct);
        await cache.GetOrSetAsync(key, _ => T.Value(1), cancellationToken: T.Ct); // hit: no span

        var span = Assert.Single(spans);
        Assert.Equal("coherent.factory", span.OperationName);
        Assert.Equal("price", span.GetTagItem("coherent.family"));
        Assert.Same(span, inside);
        Assert.NotEqual(ActivityStatusCode.Error, span.Status);

        // A failing factory's span is marked as an error.
        await cache.InvalidateAsync(key, T.Ct);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await cache.GetOrSetAsync<int>(key, _ => throw new InvalidOperationException("source down"), cancellationToken: T.Ct));
        Assert.Equal(2, spans.Count);
        var failed = spans.Last();
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.Equal("source down", failed.StatusDescription);
    }
}

public sealed class AdvisorTests
{
    [Fact]
    public async Task A_family_invalidated_as_often_as_read_does_not_help_and_a_read_mostly_family_helps()
    {
        var time = T.Clock();
        await using var cache = T.Builder(time)
            .Define("session", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Jitter(0))
            .Define("country", p => p.MaxStaleness(TimeSpan.FromHours(1)).Ttl(TimeSpan.FromHours(1)).Jitter(0))
            .Build();

        for (var i = 0; i < 200; i++)
        {
            await cache.GetOrSetAsync("session:1", _ => { time.Advance(TimeSpan.FromMilliseconds(2)); return T.Value(i); }, cancellationToken: T.Ct);
            await cache.InvalidateAsync("session:1", T.Ct);
        }

        for (var i = 0; i < 1_000; i++)
        {
            await cache.GetOrSetAsync($"country:{i % 10}", _ => { time.Advance(TimeSpan.FromMilliseconds(40)); return T.Value("x"); }, cancellationToken: T.Ct);
        }

        var report = cache.Advise();
        var session = report["session"]!;
        Assert.Equal(AdvisorVerdict.DoesNotHelp, session.Verdict);
        Assert.Equal(200, session.Reads);
        Assert.Equal(0, session.HitRatio);
        Assert.Equal(1000, session.WritesPer1000Reads);
        Assert.Equal(2, session.MedianFactoryCostMs);

        var country = report["country"]!;
        Assert.Equal(AdvisorVerdict.Helps, country.Verdict);
        Assert.Equal(1000, country.Reads);
        Assert.Equal(0.99, country.HitRatio, 3);
        Assert.Equal(40, country.MedianFactoryCostMs);
        Assert.Equal(990 * 40, country.FactoryTimeSavedMs);

        var text = report.ToString();
        Assert.Contains("session: 200 reads", text, StringComparison.Ordinal);
        Assert.Contains("DoesNotHelp", text, StringComparison.Ordinal);
        Assert.Contains("country: 1000 reads", text, StringComparison.Ordinal);
        Assert.Contains("Helps", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Few_reads_are_not_judged_and_rarely_hit_families_do_not_help()
    {
        var time = T.Clock();
        await using var cache = T.Builder(time).Define("search", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Jitter(0)).Build();
        await cache.GetOrSetAsync("search:a", _ => T.Value(1), cancellationToken: T.Ct);
        Assert.Equal(AdvisorVerdict.NotEnoughData, cache.Advise()["search"]!.Verdict);
        Assert.Null(cache.Advise()["never-used"]);

        for (var i = 0; i < 300; i++)
        {
            await cache.GetOrSetAsync($"search:{i}", _ => T.Value(1), cancellationToken: T.Ct); // every key read once
        }

        var advice = cache.Advise()["search"]!;
        Assert.Equal(AdvisorVerdict.DoesNotHelp, advice.Verdict);
        Assert.True(advice.HitRatio < 0.1);
    }
}
