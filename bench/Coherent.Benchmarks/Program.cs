using BenchmarkDotNet.Running;
using Coherent.Benchmarks;

// Console modes (measured runs printed as tables) for the cases that are not per-op timings:
//   herd      1,000 concurrent callers on a cold key with a 50 ms factory: factory runs and total time per peer
//   hitratio  bounded-L1 hit ratio on a Zipf(0.9) trace with a one-off scan (optional: runs per peer, peer filter)
//   memory    heap per resident entry (50,000 keys, one shared value) of the L1 and its peers
//   hit-ab    the L1 hit of this build against another build's Coherent.dll, alternating in one process
//   hybrid-hit  the L1 hit through the HybridCache adapter against Coherent's own, interleaved (optional: rounds)
//   serializers  JSON against MessagePack on one realistic value: payload bytes, then interleaved serialize/deserialize times
//   l2-ab <other Coherent.dll> [trials]   the L2 hit of this build against another build's, alternating in one process
//   bulk-engine [rounds] [small]   the engine's own cost per key of a bulk read (in-memory tier) against deserializing alone
//   redis-bulk [rounds] [cases|all] [small]   100 keys at once (GetOrSetManyAsync) against one L2 hit, the bare floor and loops of single calls
//   redis-propagation, redis-herd, redis-fleet-load   shared-tier cases against Redis (bench/Coherent.Benchmarks/SharedTier)
//   memcached-hit [rounds] [ops]   bare mg + deserialize against the Memcached store's reads and Coherent's L2 hit on Memcached
//   memcached-bulk [rounds] [servers]   100 keys at once (GetOrSetManyAsync, one batch per server) against one L2 hit, a loop of single calls and the bare floor on Memcached
//   memcached-herd [rounds]   the fleet herd (4 nodes × 100 callers, cold key, 50 ms factory) on Memcached, and on Redis (bench/Coherent.Benchmarks/Memcached)
// Anything else goes to BenchmarkDotNet (for example: --filter '*Hit*').
if (await Coherent.Benchmarks.SharedTier.SharedTierModes.TryRunAsync(args))
{
    return;
}

if (args.Length > 0 && args[0] == "herd")
{
    await HerdRun.RunAsync(args.Skip(1).ToArray());
    return;
}

if (args.Length > 0 && args[0] == "hybrid-hit")
{
    HybridHitRun.Run(args.Skip(1).ToArray());
    return;
}

if (args.Length > 0 && args[0] == "serializers")
{
    SerializerBenchmarks.Run();
    return;
}

if (args.Length > 0 && args[0] == "hitratio")
{
    await HitRatioRun.RunAsync(args.Skip(1).ToArray());
    return;
}

if (args.Length > 0 && args[0] == "hit-ab")
{
    HitAbRun.Run(args.Skip(1).ToArray());
    return;
}

if (args.Length > 0 && args[0] == "memory")
{
    await MemoryRun.RunAsync(args.Skip(1).ToArray());
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, new ShortConfig());
