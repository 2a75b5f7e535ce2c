namespace Coherent;

/// <summary>
/// The names under which Coherent publishes its telemetry, for a listener or an exporter's registration
/// (<c>AddMeter(CoherentTelemetryNames.MeterName)</c>; the <c>Coherent.OpenTelemetry</c> package does it in one call).
/// Every cache and every shared tier (Redis included) publishes under these names, told apart by the <c>coherent.cache</c> tag.
/// </summary>
public static class CoherentTelemetryNames
{
    /// <summary>The meter's name: request counts by outcome, factory duration, served age, invalidation lag, shared-tier counters.</summary>
    public const string MeterName = "Coherent";

    /// <summary>The activity source's name: spans for a factory run, an L2 read and write, a lease wait and a fleet invalidation.</summary>
    public const string ActivitySourceName = "Coherent";
}
