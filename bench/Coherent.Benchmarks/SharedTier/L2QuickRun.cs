using Coherent.SharedTier;
using System.Diagnostics;
using System.Text.Json;
using Coherent.Redis.Storage;
using Coherent.Serialization;
using StackExchange.Redis;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// A quick check of case 1 while working on it (console mode <c>redis-l2-quick [rounds] [ops]</c>): the bare GET +
/// deserialize, the tier's read alone and in parts, the engine's miss path without I/O, their sum, and Coherent's L2 hit,
/// in short alternating blocks against one throwaway redis-server. Each round yields a ratio of a step's block mean to the baseline block run right before it, so a load
/// change on the shared machine moves both sides of a ratio alike; the median of those paired ratios is the figure.
/// </summary>
internal static class L2QuickRun
{
    private const string Key = L2Setup.Key;

    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 100;
        var ops = args.Length > 1 && int.TryParse(args[1], out var o) ? o : 100;
        await using var setup = await L2Setup.StartAsync("bench-q");
        var (server, db, cache, tier, family, keys, local) = (setup.Server, setup.Db, setup.Cache, setup.Tier, setup.Family, setup.Keys, setup.Local);
        var sample = Product.Sample(42);

        var steps = new (string Name, Func<Task> Op)[]
        {
            ("GET + Deserialize (baseline)", async () => JsonSerializer.Deserialize<Product>((byte[])(await db.StringGetAsync("bare:" + Key))!, Product.Json)),
            ("RedisTier.ReadAsync + SerializerGuard.Deserialize", async () =>
            {
                var read = await tier.ReadAsync(new Coherent.SharedTier.SharedTierKey(Key, family.Name), CancellationToken.None);
                SerializerGuard.Deserialize<Product>(JsonCacheSerializer.Default, Key, read.Entry!.Payload);
            }),
            ("RedisTier.ReadAsync + JsonSerializer.Deserialize(span)", async () =>
            {
                var read = await tier.ReadAsync(new Coherent.SharedTier.SharedTierKey(Key, family.Name), CancellationToken.None);
                JsonSerializer.Deserialize<Product>(read.Entry!.Payload.Span, Product.Json);
            }),
            ("GET data + SharedTierEnvelope.TryRead + Deserialize(span)", async () =>
            {
                var value = await db.StringGetAsync(keys.Data(Key));
                SharedTierEnvelope.TryRead(Key, (ReadOnlyMemory<byte>)value, null, 1 << 20, out var data);
                JsonSerializer.Deserialize<Product>(data.Payload.Span, Product.Json);
            }),
            ("tier read handed over a RunContinuationsAsynchronously TCS (as a flight does)", setup.TierReadHandedOverAsync),
            ("no Redis: Local.Remove + GetOrSetAsync (engine miss path)", async () =>
            {
                local.Diagnostics.DropLocal(Key);
                await local.GetOrSetAsync(Key, sample, static (p, _) => ValueTask.FromResult(p));
            }),
            ("sum: engine miss path (no Redis) + tier read handed over a TCS", async () =>
            {
                local.Diagnostics.DropLocal(Key);
                await local.GetOrSetAsync(Key, sample, static (p, _) => ValueTask.FromResult(p));
                await setup.TierReadHandedOverAsync();
            }),
            ("Coherent.GetOrSetAsync after Local.Remove", async () =>
            {
                SharedNodes.DropLocal(cache, Key);
                await cache.GetOrSetAsync(Key, static _ => ValueTask.FromResult(Product.Sample(0)));
            }),
        };

        var (means, ratios, bytes) = await Stats.InterleaveAsync(steps, rounds, ops, warmupRounds: 5);

        // Plain Local.Remove, no wait: a caller starting right after the previous operation's flight completed, but before the flight left the table, joins
        // it and is served without a read: count how often that makes a "L2 hit" operation skip Redis.
        await using var admin = await ConnectionMultiplexer.ConnectAsync(server.Endpoint + ",allowAdmin=true");
        var info = admin.GetServer(admin.GetEndPoints()[0]);
        var before = await GetCallsAsync(info);
        for (var i = 0; i < 1000; i++)
        {
            cache.Diagnostics.DropLocal(Key);
            await cache.GetOrSetAsync(Key, static _ => ValueTask.FromResult(Product.Sample(0)));
        }

        var reads = await GetCallsAsync(info) - before;

        Console.WriteLine($"L2 hit quick check: {rounds} rounds × {ops} ops per step, alternating; {Stats.Machine()}");
        Console.WriteLine("| Step | Median (µs/op) | Min (µs/op) | Median of paired ratios | Ratio of mins | Allocated (B/op, whole process) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        for (var s = 0; s < steps.Length; s++)
        {
            Console.WriteLine($"| {steps[s].Name} | {Percentiles.Of(means[s], 50):F1} | {means[s].Min():F1} | {Percentiles.Of(ratios[s], 50):F3}× | {means[s].Min() / means[0].Min():F3}× | {bytes[s]:F0} |");
        }

        Console.WriteLine($"Coherent operations that read Redis (GETs counted by the server, incl. ~1 a second of version refresh): {reads} of 1000 (the rest joined the previous operation's just-completed flight)");
    }

    private static async Task<long> GetCallsAsync(IServer server)
    {
        var stats = await server.InfoAsync("commandstats");
        var get = stats.SelectMany(g => g).FirstOrDefault(p => p.Key == "cmdstat_get").Value;
        return get is null ? 0 : long.Parse(get.Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
