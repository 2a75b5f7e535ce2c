using System.Text.Json;
using System.Diagnostics;
using Coherent.Testing;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// Console mode <c>redis-bulk [rounds]</c> (issue 15, part 2): a list page of 100 keys on one throwaway redis-server.
/// Warm: the keys are in Redis and not in the reader's L1 (fresh keys each round, written by another node): Coherent's
/// <c>GetOrSetManyAsync</c> against one L2 hit of the same node (the target: ≤ 3×), against Coherent's own loop of single
/// calls, and against FusionCache and HybridCache doing what their users do today, a loop of single calls. Cold: 100
/// keys no one has, a batch factory of 50 ms: factory calls and total time (the target: one call, ≤ 60 ms).
/// </summary>
internal static class BulkRun
{
    private const int Keys = 100;
    private static readonly TimeSpan FactoryTime = TimeSpan.FromMilliseconds(50);

    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 31;
        var only = args.Length > 1 && args[1] != "all" ? args[1] : null; // run only the cases whose name contains one of these ('|'-separated)
        var small = args.Length > 2 && args[2] == "small"; // a ~60-byte product instead of ~1 KB: how much is deserialization
        await using var server = await RedisProcess.StartNewAsync();
        Console.WriteLine($"Bulk read: {Keys} keys, {(small ? "small" : "1 KB")} values, {rounds} rounds a case, interleaved; redis-server 127.0.0.1:{server.Port}; {Stats.Machine()}");

        await using var writer = SharedNodes.Coherent(server.Endpoint, "bulk");
        await using var reader = SharedNodes.Coherent(server.Endpoint, "bulk");
        await using var fusionWriter = SharedNodes.Fusion(server.Endpoint, "bulk-fusion", locker: false);
        await using var fusion = SharedNodes.Fusion(server.Endpoint, "bulk-fusion", locker: false);
        await using var hybridWriter = SharedNodes.Hybrid(server.Endpoint, "bulk-hybrid");
        await using var hybrid = SharedNodes.Hybrid(server.Endpoint, "bulk-hybrid");
        await Task.Delay(500); // subscriptions live

        var sample = small ? new Product { Id = 1, Name = "small", Price = 9.5m, Currency = "EUR" } : Product.Sample(1);
        var sampleJson = Product.Utf8(sample);
        using var bare = SharedNodes.Connect(server.Endpoint);
        var db = bare.GetDatabase();
        var cases = new (string Name, Func<string[], Task> Write, Func<string[], Task> Read)[]
        {
            ("Coherent: one L2 hit (baseline)", keys => writer.SetAsync(keys[0], sample).AsTask(),
                async keys => await reader.GetOrSetAsync(keys[0], static _ => ValueTask.FromResult(Product.Sample(0)))),
            ("Coherent: GetOrSetManyAsync", keys => BulkRounds.WriteAll(keys, k => writer.SetAsync(k, sample).AsTask()),
                async keys => BulkRounds.Check(Keys, await reader.GetOrSetManyAsync<Product>(keys, static (_, _) => throw new InvalidOperationException("all keys are in Redis")))),
            ("Coherent: loop of GetOrSetAsync", keys => BulkRounds.WriteAll(keys, k => writer.SetAsync(k, sample).AsTask()),
                async keys => { foreach (var k in keys) { await reader.GetOrSetAsync(k, static _ => ValueTask.FromResult(Product.Sample(0))); } }),
            // The floor: what any client pays for the same bytes — the GETs pipelined, then one deserialization per value.
            ("Bare: one GET + deserialize", keys => db.StringSetAsync("bare:" + keys[0], sampleJson),
                async keys => _ = JsonSerializer.Deserialize<Product>((byte[])(await db.StringGetAsync("bare:" + keys[0]))!, Product.Json)),
            ("Bare: 100 pipelined GETs + deserialize each", keys => BulkRounds.WriteAll(keys, k => db.StringSetAsync("bare:" + k, sampleJson)),
                async keys =>
                {
                    var gets = keys.Select(k => db.StringGetAsync("bare:" + k)).ToArray();
                    foreach (var value in await Task.WhenAll(gets))
                    {
                        _ = JsonSerializer.Deserialize<Product>((byte[])value!, Product.Json);
                    }
                }),
            ("Bare: one MGET of 100 + deserialize each", keys => BulkRounds.WriteAll(keys, k => db.StringSetAsync("bare:" + k, sampleJson)),
                async keys =>
                {
                    foreach (var value in await db.StringGetAsync(keys.Select(k => (StackExchange.Redis.RedisKey)("bare:" + k)).ToArray()))
                    {
                        _ = JsonSerializer.Deserialize<Product>((byte[])value!, Product.Json);
                    }
                }),
            ("FusionCache: loop of GetOrSetAsync", keys => BulkRounds.WriteAll(keys, k => fusionWriter.Cache.SetAsync(k, sample).AsTask()),
                async keys => { foreach (var k in keys) { await fusion.Cache.GetOrSetAsync<Product>(k, static (_, _) => Task.FromResult(Product.Sample(0))); } }),
            ("HybridCache: loop of GetOrCreateAsync", keys => BulkRounds.WriteAll(keys, k => hybridWriter.Cache.SetAsync(k, sample).AsTask()),
                async keys => { foreach (var k in keys) { await hybrid.Cache.GetOrCreateAsync(k, static _ => ValueTask.FromResult(Product.Sample(0))); } }),
        };

        if (only is not null)
        {
            cases = cases.Where((c, i) => i == 0 || only.Split('|').Any(o => c.Name.Contains(o, StringComparison.OrdinalIgnoreCase))).ToArray();
        }

        BulkRounds.Print(cases, await BulkRounds.MeasureAsync(cases, rounds, Keys), "Redis");

        await BulkRounds.MeasureColdAsync(reader, Math.Min(rounds, 101), Keys);
    }
}
