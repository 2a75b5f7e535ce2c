using System.Diagnostics;

namespace Coherent.Testing;

/// <summary>The fault schedule of a history run: each fault injected at its time, recorded with its window.</summary>
public static partial class HistoryRun
{
    private static async Task RunScheduleAsync(HistoryRunOptions o, History history, IFaultableServer? server, IReadOnlyList<string>? cluster,
        IReadOnlyList<IFaultableServer>? clusterServers, ProofFleet fleet, Stopwatch watch, CancellationToken cancellationToken)
    {
        foreach (var fault in o.Faults.OrderBy(f => f.At))
        {
            var wait = fault.At - watch.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }

            var start = ProofClock.NowMs;
            var target = "server";
            switch (fault.Kind)
            {
                case FaultKind.PubSubKilled:
                    foreach (var endpoint in server is not null ? [server.Endpoint] : cluster!)
                    {
                        await RedisAdmin.ExecAsync(endpoint, "CLIENT", "KILL", "TYPE", "pubsub");
                    }

                    break;
                case FaultKind.ServerPaused when server is not null:
                    server.Pause();
                    try
                    {
                        await Task.Delay(fault.Length, CancellationToken.None);
                    }
                    finally
                    {
                        server.Resume();
                    }

                    break;
                case FaultKind.ServerRestarted when server is not null:
                    server.Kill();
                    await Task.Delay(fault.Length, CancellationToken.None);
                    await server.StartAsync();
                    break;
                case FaultKind.L2Partitioned when fleet.Proxy(fault.Node) is { } proxy:
                    target = $"node {fault.Node}";
                    proxy.Partition();
                    await Task.Delay(fault.Length, CancellationToken.None);
                    proxy.Heal();
                    break;
                case FaultKind.FactoryThrows or FaultKind.SlowFactory when fleet.Switches(fault.Node) is { } node:
                    target = $"node {fault.Node}";
                    Volatile.Write(ref node.FactoryMode, fault.Kind == FaultKind.FactoryThrows ? ProofFleet.Throwing : ProofFleet.Slow);
                    await Task.Delay(fault.Length, CancellationToken.None);
                    Volatile.Write(ref node.FactoryMode, ProofFleet.Normal);
                    break;
                case FaultKind.PartitionedSlowFactory when fleet.Proxy(fault.Node) is { } proxy && fleet.Switches(fault.Node) is { } node:
                    target = $"node {fault.Node}";
                    Volatile.Write(ref node.FactoryMode, ProofFleet.Slow);
                    proxy.Partition();
                    await Task.Delay(fault.Length, CancellationToken.None);
                    proxy.Heal();
                    Volatile.Write(ref node.FactoryMode, ProofFleet.Normal);
                    break;
                case FaultKind.VersionMessagesDropped when fleet.Switches(fault.Node) is { } node:
                    target = $"node {fault.Node}";
                    Volatile.Write(ref node.DropVersionMessages, 1);
                    await Task.Delay(fault.Length, CancellationToken.None);
                    Volatile.Write(ref node.DropVersionMessages, 0);
                    break;
                case FaultKind.NodeJoined:
                    target = $"node {await fleet.AddNodeAsync()}";
                    break;
                case FaultKind.WallClockStepped:
                    target = "every node's wall clock, 1 h back";
                    fleet.Clock.Step(TimeSpan.FromHours(-1));
                    await Task.Delay(fault.Length, CancellationToken.None);
                    fleet.Clock.Step(TimeSpan.FromHours(1));
                    break;
                case FaultKind.ClusterFailover when cluster is not null:
                    target = await ClusterControl.FailoverOneAsync(cluster, TimeSpan.FromSeconds(15));
                    break;
                case FaultKind.ClusterMasterKilled when clusterServers is not null:
                    target = await ClusterControl.KillMasterAsync(clusterServers, TimeSpan.FromSeconds(20));
                    break;
                default:
                    continue; // does not apply to this topology
            }

            history.Fault(new FaultRecord(fault.Kind, target, start, ProofClock.NowMs));
            o.Progress?.Invoke($"fault {fault.Kind} on {target}: {ProofClock.NowMs - start:F0} ms");
        }
    }
}
