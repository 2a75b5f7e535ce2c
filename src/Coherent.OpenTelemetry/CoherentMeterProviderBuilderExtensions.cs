using Coherent;

namespace OpenTelemetry.Metrics;

/// <summary>
/// Adds Coherent's metrics to an OpenTelemetry meter provider. In the <c>OpenTelemetry.Metrics</c> namespace, as
/// OpenTelemetry's own instrumentation packages do.
/// </summary>
public static class CoherentMeterProviderBuilderExtensions
{
    /// <summary>
    /// Subscribes the meter provider to Coherent's meter (<see cref="CoherentTelemetryNames.MeterName"/>): request counts by
    /// family and <c>coherent.outcome</c> (l1_hit, l2_hit, computed, stale, ...), factory duration, served age and
    /// invalidation lag in seconds, L1 size, pending invalidations, and the shared tier's counters (Redis included).
    /// Every cache's instruments carry its name as <c>coherent.cache</c>.
    /// </summary>
    /// <param name="builder">The meter provider builder (<c>services.AddOpenTelemetry().WithMetrics(...)</c> or <c>Sdk.CreateMeterProviderBuilder()</c>).</param>
    /// <returns>The same builder, for chaining.</returns>
    public static MeterProviderBuilder AddCoherentInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(CoherentTelemetryNames.MeterName);
    }
}
