using System.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

[assembly: HostingStartup(typeof(Coherent.Extensions.Tests.ReadmeTelemetryStartup))]

namespace Coherent.Extensions.Tests;

/// <summary>
/// Gives the README's app an exporter without touching its code: ASP.NET Core runs this startup only in a host started with
/// <c>--hostingStartupAssemblies Coherent.Extensions.Tests</c> (ReadmeWebAppTests), and it adds in-memory exporters (and the
/// request spans) to the providers the README registers. Static, because the app builds them; that test runs alone (its collection).
/// </summary>
public sealed class ReadmeTelemetryStartup : IHostingStartup
{
    public static List<Metric> Metrics { get; } = [];

    public static List<Activity> Spans { get; } = [];

    public void Configure(IWebHostBuilder builder) => builder.ConfigureServices(services =>
    {
        services.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(Metrics));
        // The request spans, as an app's AddAspNetCoreInstrumentation() gives them: without a recorded parent, the default
        // parent-based sampler drops Coherent's spans under a request.
        services.ConfigureOpenTelemetryTracerProvider(t => t.AddSource("Microsoft.AspNetCore").AddInMemoryExporter(Spans));
    });
}
