using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Coherent.Benchmarks.SharedTier;
using Coherent.Memcached;
using Coherent.Memcached.Protocol;

namespace Coherent.Benchmarks.Memcached;

using Product = Coherent.Benchmarks.SharedTier.Product;

/// <summary>
/// Console mode <c>memcached-bulk [rounds] [servers]</c> (issue 15, part 2, on Memcached): a list page of 100 keys on
/// throwaway memcached servers (one by default). Warm: the keys are in Memcached and not in the reader's L1 (fresh keys
/// each round, written by another node): Coherent's <c>GetOrSetManyAsync</c> (one batch per server) against one L2 hit of
/// the same node and against a loop of 100 single <c>GetOrSetAsync</c>; the floor is the same 100 <c>mg</c> in one batch
/// per server on the node's own client, and a deserialization each. Cases interleave round by round.
/// </summary>
internal static class MemcachedBulkRun
{
    private const int Keys = 100;

    public static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 0 && int.TryParse(args[0], out var r) ? r : 31;
        var serverCount = args.Length > 1 && int.TryParse(args[1], out var s) ? Math.Max(1, s) : 1;
        var servers = new List<MemcachedProcess>();
        try
        {
            for (var i = 0; i < serverCount; i++)
            {
                servers.Add(await MemcachedProcess.StartNewAsync());
            }

            await RunAsync(rounds, servers);
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    private static async Task RunAsync(int rounds, List<MemcachedProcess> servers)
    {
        var endpoints = string.Join(",", servers.Select(s => s.Endpoint));
        Console.WriteLine($"Bulk read on Memcached: {Keys} keys, 1 KB values, {rounds} rounds a case, interleaved; memcached {endpoints}; {Stats.Machine()}");
        await using var writer = MemcachedHitSetup.Node(endpoints, "bulk");
        await using var reader = MemcachedHitSetup.Node(endpoints, "bulk");
        var client = reader.Diagnostics.SharedTierAs<MemcachedTier>().Store.Cluster;
        var sample = Product.Sample(1);
        var json = Product.Utf8(sample);
        static byte[] Bare(string key) => MemcachedKey.ToBase64(Encoding.UTF8.GetBytes("bare:" + key));

        var cases = new (string Name, Func<string[], Task> Write, Func<string[], Task> Read)[]
        {
            ("Coherent: one L2 hit (baseline)", keys => writer.SetAsync(keys[0], sample).AsTask(),
                async keys => await reader.GetOrSetAsync(keys[0], static _ => ValueTask.FromResult(Product.Sample(0)))),
            ("Coherent: GetOrSetManyAsync of 100", keys => BulkRounds.WriteAll(keys, k => writer.SetAsync(k, sample).AsTask()),
                async keys => BulkRounds.Check(Keys, await reader.GetOrSetManyAsync<Product>(keys, static (_, _) => throw new InvalidOperationException("all keys are in Memcached")))),
            ("Coherent: loop of 100 GetOrSetAsync", keys => BulkRounds.WriteAll(keys, k => writer.SetAsync(k, sample).AsTask()),
                async keys => { foreach (var k in keys) { await reader.GetOrSetAsync(k, static _ => ValueTask.FromResult(Product.Sample(0))); } }),
            // The floor: the same 100 mg in one batch per server on the node's own client, then one deserialization per value.
            ("Bare: 100 mg, one batch per server + deserialize each", keys => BulkRounds.WriteAll(keys, k => client.SendAsync(new MetaRequest(MetaVerb.Set, Bare(k), MetaRequestFlags.None, json))),
                async keys =>
                {
                    var requests = keys.Select(k => new MetaRequest(MetaVerb.Get, Bare(k), MetaRequestFlags.ReturnValue)).ToArray();
                    foreach (var response in await client.SendManyAsync(requests))
                    {
                        _ = JsonSerializer.Deserialize<Product>(response.Value ?? throw new InvalidOperationException("a bare key was not stored"), Product.Json);
                    }
                }),
        };

        BulkRounds.Print(cases, await BulkRounds.MeasureAsync(cases, rounds, Keys), "Memcached");
        await BulkRounds.MeasureColdAsync(reader, Math.Min(rounds, 101), Keys);
    }
}
