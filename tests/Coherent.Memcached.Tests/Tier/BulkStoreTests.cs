using System.Globalization;
using Coherent.Memcached.Store;
using Coherent.Memcached.Tests.Infrastructure;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>
/// Bulk leases and stores on Memcached (issue 15, part 2): a bulk call's placeholder touches and its factory round's fenced
/// stores leave as one batch per server, all servers at once, and each key is still fenced and answered as its single
/// store answers it — an invalidation keeps its key out, a versioned key moves its pointer after its version, a server
/// that fails leaves its keys' values in this node's L1 only.
/// </summary>
public sealed class BulkStoreTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A node with the versioned family <c>ver</c> besides McNode's <c>item</c>.</summary>
    private static McNode Node(string servers, string prefix) =>
        McNode.Start(servers, prefix, o => o.VersionedFamilies.Add("ver"),
            b => b.Define("ver", p => p.MaxStaleness(McNode.MaxStaleness).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh()));

    /// <summary><paramref name="count"/> keys named <c>family:name-i</c> whose items live on <paramref name="server"/> when every server is up.</summary>
    private static string[] KeysOn(MemcachedStore store, MemcachedProcess server, string family, string name, int count) =>
        Enumerable.Range(0, 10_000).Select(i => $"{family}:{name}-{i}")
            .Where(k => store.Cluster.Owner(store.DataKey(k)).Address.Port == server.Port).Take(count).ToArray();

    private static (long Singles, long Batches) Sent(McNode node, MemcachedProcess server) =>
        node.Store.Cluster.Servers.Single(s => s.Address.Port == server.Port).Sent;

    private static (long Singles, long Batches) Since((long Singles, long Batches) before, (long Singles, long Batches) after) =>
        (after.Singles - before.Singles, after.Batches - before.Batches);

    private static async Task<long> SetsAsync(MemcachedProcess server) => long.Parse((await server.StatAsync("cmd_set", Ct))!, CultureInfo.InvariantCulture);

    /// <summary>A bulk factory computing <c>computed key</c> for each key, after <paramref name="first"/> ran (once).</summary>
    private static Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, string>>> Computing(Func<Task>? first = null, List<string>? asked = null) =>
        async (keys, _) =>
        {
            if (first is not null)
            {
                await first();
            }

            asked?.AddRange(keys);
            return keys.ToDictionary(k => k, k => "computed " + k);
        };

    private static ValueTask<string> Unexpected(CancellationToken _) => throw new InvalidOperationException("the factory was asked for a key Memcached holds");

    [Fact]
    public async Task A_cold_bulk_call_on_two_servers_touches_its_placeholders_and_stores_its_values_in_one_batch_per_server_each_readable_from_another_node()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulkstore");
        await using var node = McNode.Start(servers, prefix);
        await using var other = McNode.Start(servers, prefix);
        var keys = KeysOn(node.Store, s1, "item", "a", 8).Concat(KeysOn(node.Store, s2, "item", "b", 8)).ToArray();

        var start = (Sent(node, s1), Sent(node, s2));
        ((long, long) S1, (long, long) S2, long Sets1, long Sets2) atFactory = default;
        var values = await node.Cache.GetOrSetManyAsync<string>(keys, Computing(async () =>
            atFactory = (Sent(node, s1), Sent(node, s2), await SetsAsync(s1), await SetsAsync(s2))), cancellationToken: Ct);
        var after = (Sent(node, s1), Sent(node, s2), await SetsAsync(s1), await SetsAsync(s2));

        Assert.All(keys, k => Assert.Equal("computed " + k, values[k]));

        // Before the factory: the reads and the placeholder touches (the default lease time outlives the read's placeholder),
        // none of them alone; the versions each key captures before its factory are batches of their own (not counted here).
        Assert.Equal(0L, Since(start.Item1, atFactory.S1).Singles);
        Assert.Equal(0L, Since(start.Item2, atFactory.S2).Singles);

        // The factory round's stores: one batch per server, no request alone, one ms per key.
        Assert.Equal((0L, 1L), Since(atFactory.S1, after.Item1));
        Assert.Equal((0L, 1L), Since(atFactory.S2, after.Item2));
        Assert.Equal(8, after.Item3 - atFactory.Sets1);
        Assert.Equal(8, after.Item4 - atFactory.Sets2);

        foreach (var key in keys)
        {
            Assert.Equal("computed " + key, await other.Cache.GetOrSetAsync(key, Unexpected, cancellationToken: Ct));
        }
    }
}
