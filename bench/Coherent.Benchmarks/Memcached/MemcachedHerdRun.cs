using Coherent.Benchmarks.SharedTier;

namespace Coherent.Benchmarks.Memcached;

/// <summary>
/// Console mode <c>memcached-herd [rounds]</c>: the fleet herd of <see cref="FleetHerdRun"/> (4 nodes × 100 concurrent callers
/// on one cold key, 50 ms factory) with Coherent on a throwaway memcached — Memcached's own leases (<c>mg … N</c> → one
/// <c>W</c>, the others poll) — and, when redis-server is installed, Coherent on Redis (lease + fill notice) in the same run.
/// </summary>
internal static class MemcachedHerdRun
{
    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 7;
        await using var memcached = await MemcachedProcess.StartNewAsync();
        Console.WriteLine($"Fleet herd: {FleetHerdRun.Nodes} nodes × {FleetHerdRun.CallersPerNode} concurrent callers, cold key, 50 ms factory, {rounds} rounds; memcached 127.0.0.1:{memcached.Port}");
        Console.WriteLine(Stats.Machine());
        Console.WriteLine();
        Console.WriteLine("| Peer | Factory runs per round (min–max) | Total time, median (ms) | Total time, min–max (ms) |");
        Console.WriteLine("|---|---:|---:|---:|");

        var nodes = Enumerable.Range(0, FleetHerdRun.Nodes).Select(_ => MemcachedHitSetup.Node(memcached.Endpoint, "bench-herd")).ToArray();
        await FleetHerdRun.Report("Coherent on Memcached (mg N lease + polling)", rounds, (n, key, factory) => nodes[n].GetOrSetAsync(key, factory, static async (f, _) => await f()).AsTask());
        foreach (var node in nodes)
        {
            await node.DisposeAsync();
        }

        if (RedisProcess.Available)
        {
            await using var redis = await RedisProcess.StartNewAsync();
            var redisNodes = Enumerable.Range(0, FleetHerdRun.Nodes).Select(_ => SharedNodes.Coherent(redis.Endpoint, "bench-herd")).ToArray();
            await Task.Delay(500); // subscriptions live
            await FleetHerdRun.Report("Coherent on Redis (lease + fill notice)", rounds, (n, key, factory) => redisNodes[n].GetOrSetAsync(key, factory, static async (f, _) => await f()).AsTask());
            foreach (var node in redisNodes)
            {
                await node.DisposeAsync();
            }
        }

        Console.WriteLine();
        Console.WriteLine("Total time: from releasing the 400 callers to the last one holding the value (factory alone: 50 ms).");
    }
}
