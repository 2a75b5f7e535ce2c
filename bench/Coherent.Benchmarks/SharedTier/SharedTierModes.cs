namespace Coherent.Benchmarks.SharedTier;

/// <summary>Console modes of the shared-tier benchmarks (Program.cs routes <c>redis-propagation</c> and <c>redis-herd</c> here).</summary>
internal static class SharedTierModes
{
    public static async Task<bool> TryRunAsync(string[] args)
    {
        switch (args.Length > 0 ? args[0] : "")
        {
            case "redis-propagation":
                await PropagationRun.RunAsync(args[1..]);
                return true;
            case "redis-herd":
                await FleetHerdRun.RunAsync(args[1..]);
                return true;
            case "redis-l2-breakdown":
                await L2BreakdownRun.RunAsync(args[1..]);
                return true;
            case "redis-fleet-load":
                await FleetLoadRun.RunAsync(args[1..]);
                return true;
            case "l2-ab":
                await L2AbRun.RunAsync(args[1..]);
                return true;
            case "redis-bulk":
                await BulkRun.RunAsync(args[1..]);
                return true;
            case "bulk-engine":
                await BulkEngineRun.RunAsync(args[1..]);
                return true;
            case "redis-l2-quick":
                await L2QuickRun.RunAsync(args[1..]);
                return true;
            case "memcached-herd":
                await Memcached.MemcachedHerdRun.RunAsync(args[1..]);
                return true;
            case "memcached-bulk":
                await Memcached.MemcachedBulkRun.RunAsync(args[1..]);
                return true;
            case "memcached-hit":
                await Memcached.MemcachedHitRun.RunAsync(args[1..]);
                return true;
            default:
                return false;
        }
    }
}
