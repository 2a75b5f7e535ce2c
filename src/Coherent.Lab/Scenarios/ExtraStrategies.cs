using Coherent.Lab.Infrastructure;

namespace Coherent.Lab.Scenarios;

/// <summary>Stale-prices strategies that need the shared tier's extras (a faulted bus, versioned keys).</summary>
internal static class ExtraStrategies
{
    public static IEnumerable<StalePricesScenario.Strategy> For(LabEnvironment env) => [];
}
