using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

/// <summary>The two-level outcome on coherent.requests, and the shared tier's steps as spans of the caller's trace.</summary>
[Collection(RedisCollection.Name)]
public sealed class ObservabilityRedisTests(SharedRedis redis)
{
    private static readonly ActivitySource Caller = new("Coherent.Redis.Tests.Caller");

    private static string Prefix() => KeyPrefix.New("o");

    [Fact]
    public async Task A_value_read_from_the_shared_tier_is_counted_as_an_l2_hit_not_as_computed()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        var bName = "b" + prefix;
        await using var a = await Node.StartAsync(server.Endpoint, prefix, build: b => b.WithName("a" + prefix));
        await using var b = await Node.StartAsync(server.Endpoint, prefix, build: c => c.WithName(bName));

        await a.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult(1), cancellationToken: ct);   // computed on a
        await b.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult(2), cancellationToken: ct);   // L2 hit on b
        await b.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult(2), cancellationToken: ct);   // L1 hit on b
        await b.Cache.GetOrSetAsync("item:2", _ => ValueTask.FromResult(2), cancellationToken: ct);   // computed on b

        var requests = Requests(bName);
        Assert.Equal(1, requests.GetValueOrDefault("l2_hit"));
        Assert.Equal(1, requests.GetValueOrDefault("l1_hit"));
        Assert.Equal(1, requests.GetValueOrDefault("computed"));
        Assert.Equal(3, requests.Values.Sum());
    }

    [Fact]
    public async Task L2_reads_and_writes_lease_waits_and_fleet_invalidations_are_spans_under_the_callers_span()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        var key = "item:" + prefix;
        var spans = new ConcurrentQueue<Activity>();
        var waitStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Coherent" or "Coherent.Redis.Tests.Caller",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = s =>
            {
                // Tags are set after the start: the wait is told by its parent, this test's caller span.
                if (s.OperationName == "coherent.lease.wait" && s.Parent?.Source == Caller)
                {
                    waitStarted.TrySetResult();
                }
            },
            ActivityStopped = s =>
            {
                if (Equals(s.GetTagItem("coherent.key"), key))
                {
                    spans.Enqueue(s);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);

        // a computes (slowly); b misses L2, loses the lease, waits for a's "filled" notice and reads a's value from L2.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var computing = a.Cache.GetOrSetAsync(key, async _ => { started.TrySetResult(); await release.Task; return 1; }, cancellationToken: ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        Activity? parent;
        Task<int> waiting;
        using (parent = Caller.StartActivity("caller"))
        {
            waiting = b.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult(2), cancellationToken: ct).AsTask();
        }

        await waitStarted.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        release.SetResult();
        Assert.Equal(1, await computing.WaitAsync(TimeSpan.FromSeconds(10), ct));
        Assert.Equal(1, await waiting.WaitAsync(TimeSpan.FromSeconds(10), ct));

        Assert.NotNull(parent);
        var underCaller = spans.Where(s => s.ParentSpanId == parent.SpanId && s.TraceId == parent.TraceId).ToList();
        Assert.Equal(["coherent.l2.read", "coherent.lease.wait", "coherent.l2.read"], underCaller.Select(s => s.OperationName));
        Assert.Equal("miss", underCaller[0].GetTagItem("coherent.outcome"));
        Assert.Contains(underCaller[1].GetTagItem("coherent.outcome"), new object[] { "filled", "timeout" }); // the notice may beat the wait's subscription
        Assert.Equal("hit", underCaller[2].GetTagItem("coherent.outcome"));
        Assert.All(underCaller, s => Assert.Equal("item", s.GetTagItem("coherent.family")));
        Assert.Contains(spans, s => s.OperationName == "coherent.l2.write" && Equals(s.GetTagItem("coherent.outcome"), "stored")); // a's fenced store

        // Write-through and fleet invalidation, each under its caller's span.
        using (parent = Caller.StartActivity("writer"))
        {
            await b.Cache.SetAsync(key, 3, cancellationToken: ct);
            await b.Cache.InvalidateAsync(key, ct);
        }

        var writes = spans.Where(s => s.ParentSpanId == parent!.SpanId).ToList();
        Assert.Equal(["coherent.l2.write", "coherent.invalidate"], writes.Select(s => s.OperationName));
        Assert.Equal(["stored", "published"], writes.Select(s => s.GetTagItem("coherent.outcome")));
    }

    /// <summary>coherent.requests of one cache, by outcome.</summary>
    private static Dictionary<string, long> Requests(string cacheName)
    {
        var counts = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Coherent" && instrument.Name == "coherent.requests")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? cache = null, outcome = null;
            foreach (var tag in tags)
            {
                cache = tag.Key == "coherent.cache" ? tag.Value as string : cache;
                outcome = tag.Key == "coherent.outcome" ? tag.Value as string : outcome;
            }

            if (cache == cacheName && outcome is not null)
            {
                counts[outcome] = counts.GetValueOrDefault(outcome) + value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return counts;
    }

    [Fact]
    public async Task Every_instrument_of_the_Redis_tier_has_a_unit()
    {
        var server = redis.RequireAny();
        var units = new ConcurrentDictionary<string, string?>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name == "Coherent" && instrument.Name.StartsWith("coherent.redis.", StringComparison.Ordinal))
            {
                units[instrument.Name] = instrument.Unit;
            }
        };
        listener.Start();
        await using var node = await Node.StartAsync(server.Endpoint, Prefix());

        Assert.NotEmpty(units);
        Assert.All(units, u => Assert.False(string.IsNullOrEmpty(u.Value), $"{u.Key} has no unit"));
    }
}
