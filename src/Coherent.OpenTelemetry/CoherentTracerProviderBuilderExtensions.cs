using Coherent;

namespace OpenTelemetry.Trace;

/// <summary>
/// Adds Coherent's spans to an OpenTelemetry tracer provider. In the <c>OpenTelemetry.Trace</c> namespace, as
/// OpenTelemetry's own instrumentation packages do, so <c>.WithTracing(t =&gt; t.AddCoherentInstrumentation())</c> needs
/// no extra <c>using</c>.
/// </summary>
public static class CoherentTracerProviderBuilderExtensions
{
    /// <summary>
    /// Subscribes the tracer provider to Coherent's activity source (<see cref="CoherentTelemetryNames.ActivitySourceName"/>):
    /// <c>coherent.factory</c>, <c>coherent.l2.read</c>, <c>coherent.l2.write</c>, <c>coherent.lease.wait</c> and
    /// <c>coherent.invalidate</c>, each a child of the caller's span, tagged with <c>coherent.key</c> and <c>coherent.family</c>
    /// (the shared-tier spans with <c>coherent.outcome</c> too). Covers every cache and every shared tier, Redis included.
    /// </summary>
    /// <param name="builder">The tracer provider builder (<c>services.AddOpenTelemetry().WithTracing(...)</c> or <c>Sdk.CreateTracerProviderBuilder()</c>).</param>
    /// <returns>The same builder, for chaining.</returns>
    public static TracerProviderBuilder AddCoherentInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(CoherentTelemetryNames.ActivitySourceName);
    }
}
