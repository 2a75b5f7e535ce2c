using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Coherent.Extensions.Tests;

/// <summary>Run alone: the README app's exporters are static lists (ReadmeTelemetryStartup), and other tests' caches publish under the same names.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class ReadmeWebAppCollection;

/// <summary>
/// Keeps the README's ASP.NET Core example honest: the region below is the README's block (its usings are this file's, and
/// its closing <c>app.Run()</c> is the test's <c>StartAsync</c>), compiled here and run against a real redis-server.
/// </summary>
[Collection(nameof(ReadmeWebAppCollection))]
public sealed class ReadmeWebAppTests
{
    private static WebApplication ReadmeApp(string[] args)
    {
        #region readme-aspnetcore
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddCoherentCache(b => b
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)))
            .WithRedis());                                      // Coherent:Redis:Configuration from appsettings
        builder.Services.AddOpenTelemetry()                     // + your exporter and ASP.NET Core's instrumentation
            .WithTracing(t => t.AddCoherentInstrumentation())
            .WithMetrics(m => m.AddCoherentInstrumentation());
        builder.Services.AddHealthChecks().AddCoherent();       // Degraded while the bus is suspect or Redis unreachable
        builder.Services.AddAuthentication().AddCookie();       // your sign-in: the diagnostics page requires a user
        builder.Services.AddAuthorization();

        var app = builder.Build();
        app.MapHealthChecks("/healthz");
        app.MapCoherentDiagnostics();                           // /coherent: policies, health, outcomes, staleness
        app.MapGet("/prices/{id}", (int id, ICoherentCache cache, CancellationToken ct) =>
            cache.GetOrSetAsync($"price:{id}", c => LoadPriceAsync(id, c), cancellationToken: ct));
        #endregion
        return app;
    }

    /// <summary>The last exported total of <c>coherent.requests</c> for one cache and outcome.</summary>
    private static long Requests(string cacheName, string outcome)
    {
        long total = 0;
        foreach (var metric in ReadmeTelemetryStartup.Metrics.Where(m => m.Name == "coherent.requests"))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                var tags = new Dictionary<string, object?>();
                foreach (var tag in point.Tags)
                {
                    tags[tag.Key] = tag.Value;
                }

                if (Equals(tags.GetValueOrDefault("coherent.cache"), cacheName) && Equals(tags.GetValueOrDefault("coherent.outcome"), outcome))
                {
                    total = point.GetSumLong();
                }
            }
        }

        return total;
    }

    private static ValueTask<decimal> LoadPriceAsync(int id, CancellationToken cancellationToken) => ValueTask.FromResult(id + 0.5m);

    [Fact]
    public void The_readme_block_is_the_code_compiled_here()
    {
        var lines = DocumentedCode.BlockAfter("README.md", "## ASP.NET Core");
        Assert.Equal(["using Coherent;", "using OpenTelemetry.Metrics;", "using OpenTelemetry.Trace;"], lines.Take(3));
        Assert.Equal("app.Run();", lines[^1]);
        var setup = lines.Count - 3; // without the usings, with app.Run()
        Assert.True(setup < 20, $"the setup is {setup} lines; the issue asks for under 20");
        Assert.Equal(lines.Skip(3).SkipLast(1), DocumentedCode.Region("ReadmeWebAppTests.cs", "readme-aspnetcore"));
    }

    [Fact]
    public async Task The_readme_app_serves_through_two_levels_with_health_telemetry_and_a_protected_diagnostics_page()
    {
        if (!RedisProcess.Available)
        {
            MissingServer.Skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it).");
        }

        var ct = TestContext.Current.CancellationToken;
        await using var redis = await RedisProcess.StartNewAsync();

        ReadmeTelemetryStartup.Metrics.Clear();
        ReadmeTelemetryStartup.Spans.Clear();
        var app = ReadmeApp(["--urls", "http://127.0.0.1:0", "--Coherent:Redis:Configuration", redis.Endpoint, "--Logging:LogLevel:Default", "Warning",
            "--hostingStartupAssemblies", typeof(ReadmeTelemetryStartup).Assembly.GetName().Name!]);
        await app.StartAsync(ct);
        try
        {
            var url = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
            using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });

            Assert.Equal("7.5", await http.GetStringAsync($"{url}/prices/7", ct));
            Assert.Equal("7.5", await http.GetStringAsync($"{url}/prices/7", ct));
            var cache = app.Services.GetRequiredService<CoherentCache>();
            var deadline = Stopwatch.StartNew();
            while (cache.SharedTierState != SharedTierState.Healthy && deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(50, ct);
            }

            Assert.Equal(SharedTierState.Healthy, cache.SharedTierState);
            Assert.True((long)await RedisAdmin.ExecAsync(redis.Endpoint, "DBSIZE") > 0, "the value never reached Redis (L2)");

            using var health = await http.GetAsync($"{url}/healthz", ct);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("Healthy", await health.Content.ReadAsStringAsync(ct));

            // Not signed in: the cookie scheme sends the caller to its login page instead of serving the diagnostics.
            using var diagnostics = await http.GetAsync($"{url}/coherent", ct);
            Assert.Equal(HttpStatusCode.Redirect, diagnostics.StatusCode);
            Assert.Contains("/Account/Login", diagnostics.Headers.Location?.ToString(), StringComparison.Ordinal);

            // What the README's OpenTelemetry registration exports (an in-memory exporter added by ReadmeTelemetryStartup):
            // the first read computed and stored in Redis, the second an L1 hit; spans for the factory and the L2 read and write.
            var meterProvider = app.Services.GetRequiredService<MeterProvider>();
            Assert.True(meterProvider.ForceFlush());
            Assert.Equal(1, Requests(cache.Name, "computed"));
            Assert.Equal(1, Requests(cache.Name, "l1_hit"));
            Assert.True(app.Services.GetRequiredService<TracerProvider>().ForceFlush());
            var spans = ReadmeTelemetryStartup.Spans.Select(s => s.OperationName).ToHashSet();
            Assert.Superset(new HashSet<string> { "coherent.factory", "coherent.l2.read", "coherent.l2.write" }, spans);
            Assert.NotNull(app.Services.GetService<MeterProvider>());
            Assert.NotNull(app.Services.GetService<TracerProvider>());
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }
}
