using System.Buffers;
using System.Text.Json;
using Coherent.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Coherent;

/// <summary>
/// Maps Coherent's diagnostics page: <c>app.MapCoherentDiagnostics()</c>. In namespace <c>Coherent</c>, with the rest of
/// the library.
/// </summary>
public static class CoherentDiagnosticsEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps a page at <paramref name="pattern"/> (HTML, no script) and its data at <c>{pattern}/json</c>, showing every cache the
    /// container registered (<c>AddCoherentCache</c>, <c>AddKeyedCoherentCache</c>): shared tier and bus health, pending
    /// invalidations, the policy table, reads by outcome (<c>l1_hit</c>, <c>l2_hit</c>, <c>computed</c>, <c>stale</c>, ...),
    /// hit ratios with the advisor's verdicts, and histograms of served age and invalidation lag since the page was mapped.
    /// </summary>
    /// <remarks>
    /// The page shows key families, policies and traffic, so it requires authorization: the policy named
    /// <paramref name="policy"/>, or the application's default policy (an authenticated user) when none is named. The
    /// application therefore needs authentication and authorization set up (<c>AddAuthentication(...)</c>,
    /// <c>AddAuthorization(...)</c>); a request that fails the policy is challenged (401) or forbidden (403) by the
    /// application's authentication scheme. To serve the page to anyone, say so on the returned builder:
    /// <c>app.MapCoherentDiagnostics().AllowAnonymous()</c> (ASP.NET Core's own switch, which overrides the requirement).
    /// Mapping resolves the registered caches, so they are built here (as the host's start would build them) and a cache's
    /// configuration problem is thrown from this call.
    /// </remarks>
    /// <param name="endpoints">The application (<c>WebApplication</c>) or a route group.</param>
    /// <param name="pattern">Where the page is served. Default <c>/coherent</c>.</param>
    /// <param name="policy">The authorization policy required; null for the default policy.</param>
    /// <returns>The group of both endpoints, for further conventions (<c>AllowAnonymous()</c>, <c>RequireHost(...)</c>, ...).</returns>
    /// <exception cref="InvalidOperationException">No cache is registered in the container.</exception>
    public static RouteGroupBuilder MapCoherentDiagnostics(this IEndpointRouteBuilder endpoints, string pattern = "/coherent", string? policy = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var services = endpoints.ServiceProvider;
        if (services.GetCoherentCaches().Count == 0)
        {
            throw new InvalidOperationException("MapCoherentDiagnostics shows the caches registered in the container, and none is: call services.AddCoherentCache(...) (or AddKeyedCoherentCache) before building the app.");
        }

        // Listens from now on, so the histograms cover every read served after the page was mapped (before the first request).
        var telemetry = new TelemetryCollector();
        services.GetService<IHostApplicationLifetime>()?.ApplicationStopped.Register(telemetry.Dispose);

        var group = endpoints.MapGroup(pattern);
        // RequestDelegate handlers (not lambdas with bound parameters): no reflection-based binding, so trimming- and AOT-safe.
        group.MapGet("", context =>
        {
            var html = DiagnosticsHtml.Render(CacheDiagnostics.Read(context.RequestServices, telemetry));
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.CacheControl = "no-store";
            return context.Response.WriteAsync(html, context.RequestAborted);
        });
        group.MapGet("json", context =>
        {
            var buffer = new ArrayBufferWriter<byte>();
            using (var json = new Utf8JsonWriter(buffer))
            {
                DiagnosticsJson.Write(json, CacheDiagnostics.Read(context.RequestServices, telemetry));
            }

            context.Response.ContentType = "application/json; charset=utf-8";
            context.Response.Headers.CacheControl = "no-store";
            return context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).AsTask();
        });
        _ = policy is null ? group.RequireAuthorization() : group.RequireAuthorization(policy);
        return group;
    }
}
