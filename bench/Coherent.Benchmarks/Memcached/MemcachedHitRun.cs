using System.Text.Json;
using Coherent.Benchmarks.SharedTier;

namespace Coherent.Benchmarks.Memcached;

using Product = Coherent.Benchmarks.SharedTier.Product;

/// <summary>
/// Console mode <c>memcached-hit [rounds] [ops]</c>: the Memcached L2-hit steps of <see cref="MemcachedHitSetup"/> and, when
/// redis-server is installed, a StackExchange.Redis GET + deserialize of the same bytes, in alternating blocks (each block's
/// mean over the baseline block of the same round; the median of those paired ratios is the figure, so load changes on the
/// shared machine move both sides alike).
/// </summary>
internal static class MemcachedHitRun
{
    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 100;
        var ops = args.Length > 1 && int.TryParse(args[1], out var o) ? o : 100;
        await using var setup = await MemcachedHitSetup.StartAsync();
        var steps = new List<(string Name, Func<Task> Op)>
        {
            ("bare mg + Deserialize (baseline)", setup.BareMgAsync),
            ("MemcachedStore.ReadAsync + Deserialize", setup.StoreReadAsync),
            ("MemcachedStore.ReadAsync (lease N30) + Deserialize", setup.StoreLeaseReadAsync),
            ("MemcachedStore.ReadWithVersionsAsync (1 tag + clear) + Deserialize", setup.StoreReadWithVersionsAsync),
            ("bare mg + clear counter, one batch (mg, ma, mn) + Deserialize", setup.BareMgBatchedCounterAsync),
            ("bare mg + clear counter, two concurrent requests + Deserialize", setup.BareMgPlusCounterAsync),
            ("MemcachedTier.ReadAsync (entry + clear counter) + Deserialize", setup.TierReadAsync),
            ("Coherent.GetOrSetAsync after Local.Remove (L2 hit)", setup.CoherentL2HitAsync),
        };

        RedisProcess? redis = null;
        StackExchange.Redis.ConnectionMultiplexer? connection = null;
        if (RedisProcess.Available)
        {
            redis = await RedisProcess.StartNewAsync();
            connection = SharedNodes.Connect(redis.Endpoint);
            var db = connection.GetDatabase();
            await db.StringSetAsync("bare:" + MemcachedHitSetup.Key, Product.Utf8(Product.Sample(42)));
            steps.Add(("StackExchange.Redis GET + Deserialize (for comparison)", async () =>
                JsonSerializer.Deserialize<Product>((byte[])(await db.StringGetAsync("bare:" + MemcachedHitSetup.Key))!, Product.Json)));
        }

        try
        {
            var (means, ratios, bytes) = await Stats.InterleaveAsync(steps, rounds, ops, warmupRounds: 5);
            Console.WriteLine($"Memcached L2 hit: {rounds} rounds × {ops} ops per step, alternating; {Stats.Machine()}");
            Console.WriteLine("| Step | Median (µs/op) | Min (µs/op) | Median of paired ratios | Allocated (B/op, whole process) |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            for (var s = 0; s < steps.Count; s++)
            {
                Console.WriteLine($"| {steps[s].Name} | {Percentiles.Of(means[s], 50):F1} | {means[s].Min():F1} | {Percentiles.Of(ratios[s], 50):F3}× | {bytes[s]:F0} |");
            }
        }
        finally
        {
            connection?.Dispose();
            if (redis is not null)
            {
                await redis.DisposeAsync();
            }
        }
    }
}
