using Coherent.Lab.Infrastructure;

namespace Coherent.Lab.Scenarios;

/// <summary>Stale-prices strategies that need the shared tier's extras (a faulted bus, versioned keys).</summary>
internal static class ExtraStrategies
{
    public static IEnumerable<StalePricesScenario.Strategy> For(LabEnvironment env)
    {
        if (env.Endpoint is null)
        {
            yield break;
        }

        // The last node stops receiving bus messages (as if its subscription silently died) after 25 writes. It must
        // notice the missing heartbeats and stop trusting its L1 within MaxStaleness.
        StalePricesScenario.Strategy? faulted = null;
        faulted = new StalePricesScenario.Strategy("event-driven, bus faulted on one node", p => p.Ttl(TimeSpan.FromHours(24)), Shared: true,
            Invalidate: true, BoundApplies: true, FaultAfterWrites: 25,
            Redis: (node, o) =>
            {
                if (node == env.Options.Nodes - 1)
                {
                    o.DropIncomingMessage = _ => faulted!.Fault.Value;
                }
            });
        yield return faulted;

        yield return new StalePricesScenario.Strategy("versioned keys (write-through)", p => p.Ttl(TimeSpan.FromHours(24)), Shared: true,
            Invalidate: true, BoundApplies: true, WriteThrough: true, Redis: (_, o) => o.VersionedFamilies.Add("price"));
    }
}
