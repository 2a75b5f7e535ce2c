using Coherent.SharedTier;
using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Coherent.Redis.Storage;
using Coherent.Serialization;
using Microsoft.Extensions.Caching.Hybrid;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// Companion of case 1 (console mode <c>redis-l2-breakdown</c>): where Coherent's L2 hit spends its time beyond the bare
/// GET + deserialize, and the same side-by-side comparison as <see cref="L2HitBenchmarks"/> but interleaved in one process
/// (so a loaded machine slows every step alike, where BenchmarkDotNet runs each case in its own process one after another). Steps are timed interleaved in the same process against one throwaway redis-server (blocks of
/// <c>ops</c> sequential operations, each step's block mean, median over the rounds), so machine load hits every step alike.
/// </summary>
internal static class L2BreakdownRun
{
    private const string Key = L2Setup.Key;
    private static readonly HybridCacheEntryOptions HybridSkipLocal = new() { Flags = HybridCacheEntryFlags.DisableLocalCacheRead };
    private static readonly FusionCacheEntryOptions FusionSkipMemory = new FusionCacheEntryOptions { Duration = SharedNodes.Expiry }.SetSkipMemoryCacheRead(true);

    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 15;
        var ops = args.Length > 1 && int.TryParse(args[1], out var o) ? o : 1000;
        await using var setup = await L2Setup.StartAsync("bench-bd");
        var (server, db, cache, tier, family, keys, json) = (setup.Server, setup.Db, setup.Cache, setup.Tier, setup.Family, setup.Keys, setup.Json);
        var sample = Product.Sample(42);
        await using var hybrid = SharedNodes.Hybrid(server.Endpoint, "bench-bd");
        await hybrid.Cache.SetAsync(Key, Product.Sample(42));
        await using var fusion = SharedNodes.Fusion(server.Endpoint, "bench-bd");
        await fusion.Cache.SetAsync(Key, Product.Sample(42));
        var local = setup.Local;

        var steps = new (string Name, Func<Task> Op)[]
        {
            ("1 GET + Deserialize (baseline)", async () => JsonSerializer.Deserialize<Product>((byte[])(await db.StringGetAsync("bare:" + Key))!, Product.Json)),
            ("2 GET + WaitAsync(500 ms, TimeProvider) + Deserialize", async () => JsonSerializer.Deserialize<Product>((byte[])(await db.StringGetAsync("bare:" + Key).WaitAsync(TimeSpan.FromMilliseconds(500), TimeProvider.System))!, Product.Json)),
            ("3 GET data + SharedTierEnvelope.TryRead + Deserialize (the tier's one command, without the tier)", async () =>
            {
                SharedTierEnvelope.TryRead(Key, (byte[])(await db.StringGetAsync(keys.Data(Key)))!, null, 1 << 20, out var data);
                JsonSerializer.Deserialize<Product>(data.Payload.Span, Product.Json);
            }),
            ("4 MGET data + epoch + Deserialize (the read before GET-only hits)", async () =>
            {
                var values = await db.StringGetAsync([keys.Data(Key), keys.Epoch(Key)]);
                SharedTierEnvelope.TryRead(Key, (byte[])values[0]!, null, 1 << 20, out var data);
                JsonSerializer.Deserialize<Product>(data.Payload.Span, Product.Json);
            }),
            ("5 RedisTier.ReadAsync (GET) + Deserialize (no flight, no L1)", async () =>
            {
                var read = await tier.ReadAsync(new Coherent.SharedTier.SharedTierKey(Key, family.Name), CancellationToken.None);
                JsonSerializer.Deserialize<Product>(read.Entry!.Payload.Span, Product.Json);
            }),
            ("5b RedisTier.ReadAsync + Coherent's JsonCacheSerializer (one-segment sequence: span parse)", async () =>
            {
                var read = await tier.ReadAsync(new Coherent.SharedTier.SharedTierKey(Key, family.Name), CancellationToken.None);
                JsonCacheSerializer.Default.Deserialize<Product>(new ReadOnlySequence<byte>(read.Entry!.Payload));
            }),
            ("6 step 5 + handing the result over a RunContinuationsAsynchronously TCS (as a flight does)", setup.TierReadHandedOverAsync),
            ("6b step 5 through four more nested async ValueTask frames (the depth of the flight path)", async () =>
            {
                await Frame(Frame(Frame(Frame(Read()))));

                async ValueTask<Product> Read()
                {
                    var read = await tier.ReadAsync(new Coherent.SharedTier.SharedTierKey(Key, family.Name), CancellationToken.None);
                    return JsonSerializer.Deserialize<Product>(read.Entry!.Payload.Span, Product.Json)!;
                }
            }),
            ("7 Coherent.GetOrSetAsync after Local.Remove", async () =>
            {
                SharedNodes.DropLocal(cache, Key);
                await cache.GetOrSetAsync(Key, static _ => ValueTask.FromResult(Product.Sample(0)));
            }),
            ("8 HybridCache.GetOrCreateAsync (DisableLocalCacheRead)", async () =>
                await hybrid.Cache.GetOrCreateAsync(Key, static _ => ValueTask.FromResult(Product.Sample(0)), HybridSkipLocal)),
            ("9 FusionCache.GetOrSetAsync (SkipMemoryCacheRead; L2 + backplane + locker)", async () =>
                await fusion.Cache.GetOrSetAsync<Product>(Key, static (_, _) => Task.FromResult(Product.Sample(0)), FusionSkipMemory)),
            ("10 no Redis: Local.Remove + GetOrSetAsync, factory returns the product at once (engine miss path, no I/O)", async () =>
            {
                local.Diagnostics.DropLocal(Key);
                await local.GetOrSetAsync(Key, sample, static (p, _) => ValueTask.FromResult(p));
            }),
        };

        // Each step's block against the baseline block of the same round (minutes apart at most, not the whole run apart).
        var (means, paired, bytes) = await Stats.InterleaveAsync(steps, rounds, ops, warmupRounds: 2);

        Console.WriteLine($"L2 hit breakdown: {rounds} rounds × {ops} sequential ops per step, interleaved; payload {json.Length} bytes of JSON; redis-server 127.0.0.1:{server.Port}");
        Console.WriteLine(Stats.Machine());
        Console.WriteLine();
        Console.WriteLine("| Step | Median of block means (µs/op) | Min (µs/op) | vs step 1 (median) | vs step 1 (min) | vs step 1 (median of per-round ratios) | Allocated (B/op, whole process) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        var baseline = Percentiles.Of(means[0], 50);
        for (var s = 0; s < steps.Length; s++)
        {
            var median = Percentiles.Of(means[s], 50);
            Console.WriteLine($"| {steps[s].Name} | {median:F1} | {means[s].Min():F1} | {median / baseline:F2}× | {means[s].Min() / means[0].Min():F2}× | {Percentiles.Of(paired[s], 50):F2}× | {bytes[s]:F0} |");
        }
    }

    /// <summary>One async frame that awaits another and passes its result on (what each layer of the flight path does).</summary>
    private static async ValueTask<Product> Frame(ValueTask<Product> inner) => await inner;
}
