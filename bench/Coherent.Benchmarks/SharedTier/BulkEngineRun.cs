using System.Diagnostics;
using System.Text.Json;
using Coherent.InMemory;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// Console mode <c>bulk-engine [rounds] [small]</c>: the engine's own cost per key of a bulk read, without a network. Two
/// nodes on the in-memory shared tier; every key is written by one node before the timed rounds, and each round the other
/// node reads 100 keys it has never seen (an L2 hit each) — against deserializing the same 100 payloads alone, the floor
/// any client pays. The difference, per key, is what the engine adds: flight, envelope checks, judgement, L1 admission.
/// </summary>
internal static class BulkEngineRun
{
    private const int Keys = 100;

    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 2000;
        var small = args.Length > 1 && args[1] == "small";
        var sample = small ? new Product { Id = 1, Name = "small", Price = 9.5m, Currency = "EUR" } : Product.Sample(1);
        var json = Product.Utf8(sample);
        var hub = new InMemorySharedTierHub();
        await using var writer = Build(hub, "writer");
        await using var reader = Build(hub, "reader");
        Console.WriteLine($"Bulk read on the in-memory tier: {Keys} keys, {(small ? "small" : "1 KB")} values ({json.Length} B), {rounds} rounds; {Stats.Machine()}");

        var all = Enumerable.Range(0, rounds + 20).Select(round => Enumerable.Range(0, Keys).Select(i => $"product:{round}-{i}").ToArray()).ToArray();
        foreach (var keys in all)
        {
            foreach (var key in keys)
            {
                await writer.SetAsync(key, sample);
            }
        }

        Console.WriteLine("written; reading");
        var bulk = new List<double>();
        var floor = new List<double>();
        for (var round = 0; round < all.Length; round++)
        {
            var started = Stopwatch.GetTimestamp();
            var values = await reader.GetOrSetManyAsync<Product>(all[round], static (_, _) => throw new InvalidOperationException("every key is in the shared tier"));
            var bulkUs = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            if (values.Count != Keys)
            {
                throw new InvalidOperationException($"{values.Count} values");
            }

            started = Stopwatch.GetTimestamp();
            for (var i = 0; i < Keys; i++)
            {
                _ = JsonSerializer.Deserialize<Product>(json, Product.Json);
            }

            var floorUs = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            if (round >= 20)
            {
                bulk.Add(bulkUs);
                floor.Add(floorUs);
            }
        }

        Console.WriteLine("| Case (100 keys) | Median (µs) | Min (µs) | Per key, median (µs) |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| GetOrSetManyAsync, every key an L2 hit | {Percentiles.Of(bulk, 50):F0} | {bulk.Min():F0} | {Percentiles.Of(bulk, 50) / Keys:F2} |");
        Console.WriteLine($"| Deserialize 100 payloads (floor) | {Percentiles.Of(floor, 50):F0} | {floor.Min():F0} | {Percentiles.Of(floor, 50) / Keys:F2} |");
    }

    private static CoherentCache Build(InMemorySharedTierHub hub, string name) =>
        new CoherentCacheBuilder().WithName($"bulk-engine-{name}")
            .Define("product", p => p.MaxStaleness(TimeSpan.FromMinutes(1)).Ttl(TimeSpan.FromHours(1)).Jitter(0).NoEarlyRefresh())
            .WithSharedTier(hub.Node())
            .Build();
}
