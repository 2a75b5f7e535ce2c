using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Coherent.Extensions.Tests;

/// <summary>AddCoherentInstrumentation() on the OpenTelemetry SDK's builders, read back through the in-memory exporter.</summary>
public sealed class OpenTelemetryInstrumentationTests
{
    [Fact]
    public async Task A_get_or_set_through_an_instrumented_cache_yields_outcome_counts_a_duration_in_seconds_and_a_child_span()
    {
        var cacheName = $"otel-{Guid.NewGuid():N}";
        var metrics = new List<Metric>();
        var spans = new List<Activity>();
        using var meterProvider = Sdk.CreateMeterProviderBuilder().AddCoherentInstrumentation().AddInMemoryExporter(metrics).Build();
        using var tracerProvider = Sdk.CreateTracerProviderBuilder()
            .AddSource("test").AddCoherentInstrumentation().AddInMemoryExporter(spans).Build();
        using var callerSource = new ActivitySource("test");

        await using var cache = new CoherentCacheBuilder()
            .WithName(cacheName)
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)))
            .Build();
        ActivityTraceId traceId;
        using (var outer = callerSource.StartActivity("caller"))
        {
            Assert.NotNull(outer);
            traceId = outer.TraceId;
            Assert.Equal(42.5m, await cache.GetOrSetAsync("price:42", _ => ValueTask.FromResult(42.5m), cancellationToken: TestContext.Current.CancellationToken));
            Assert.Equal(42.5m, await cache.GetOrSetAsync("price:42", _ => ValueTask.FromResult(-1m), cancellationToken: TestContext.Current.CancellationToken));
        }

        Assert.True(meterProvider.ForceFlush());
        Assert.True(tracerProvider.ForceFlush());

        var requests = Points(metrics, "coherent.requests", cacheName);
        Assert.Equal(1, Sum(requests, "computed"));
        Assert.Equal(1, Sum(requests, "l1_hit"));
        Assert.Equal(0, Sum(requests, "l2_hit"));
        // Every cache built without a meter factory has a meter of its own, so one instrument name can be several streams.
        Assert.All(metrics.Where(m => m.Name == "coherent.factory.duration"), m => Assert.Equal("s", m.Unit));
        Assert.Equal(1, Points(metrics, "coherent.factory.duration", cacheName).Sum(p => p.GetHistogramCount()));

        // Other tests' caches run factories too: this test's span is the one in its caller's trace.
        var factory = Assert.Single(spans, s => s.OperationName == "coherent.factory" && s.TraceId == traceId);
        Assert.Equal(CoherentTelemetryNames.ActivitySourceName, factory.Source.Name);
        Assert.Equal(traceId, factory.TraceId);
        Assert.Equal("price", factory.GetTagItem("coherent.family"));
        Assert.Equal("price:42", factory.GetTagItem("coherent.key"));
        var caller = Assert.Single(spans, s => s.OperationName == "caller");
        Assert.Equal(caller.SpanId, factory.ParentSpanId);
    }

    [Fact]
    public void The_extensions_refuse_a_null_builder_by_name()
    {
        Assert.Equal("builder", Assert.Throws<ArgumentNullException>(() => ((TracerProviderBuilder)null!).AddCoherentInstrumentation()).ParamName);
        Assert.Equal("builder", Assert.Throws<ArgumentNullException>(() => ((MeterProviderBuilder)null!).AddCoherentInstrumentation()).ParamName);
    }

    /// <summary>The metric points of one instrument that belong to one cache (other tests' caches publish on the same meter).</summary>
    private static List<MetricPoint> Points(IEnumerable<Metric> metrics, string name, string cacheName)
    {
        var points = new List<MetricPoint>();
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                if (Equals(Tag(point, "coherent.cache"), cacheName))
                {
                    points.Add(point);
                }
            }
        }

        return points;
    }

    private static long Sum(List<MetricPoint> points, string outcome) =>
        points.Where(p => Equals(Tag(p, "coherent.outcome"), outcome)).Sum(p => p.GetSumLong());

    private static object? Tag(MetricPoint point, string key)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key)
            {
                return tag.Value;
            }
        }

        return null;
    }
}
