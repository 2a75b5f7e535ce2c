using System.Globalization;
using Coherent.Memcached.Store;
using Coherent.Memcached.Tests.Infrastructure;
using Coherent.SharedTier;

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
        // one batch per server each, none of them alone, and the versions every fill is stamped with, read once for the batch
        // (they were read once a key before: 16 more requests).
        Assert.Equal(0L, Since(start.Item1, atFactory.S1).Singles);
        Assert.Equal(0L, Since(start.Item2, atFactory.S2).Singles);
        Assert.InRange(Since(start.Item1, atFactory.S1).Batches + Since(start.Item2, atFactory.S2).Batches, 2, 5);

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

    [Fact]
    public async Task An_invalidation_while_the_batch_factory_runs_keeps_its_keys_out_by_their_CAS_and_the_other_keys_are_stored()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulkfence");
        await using var node = Node(servers, prefix);
        await using var writer = Node(servers, prefix);
        await using var other = Node(servers, prefix);
        var plain = KeysOn(node.Store, s1, "item", "p", 3).Concat(KeysOn(node.Store, s2, "item", "p", 3)).ToArray();
        var versioned = KeysOn(node.Store, s1, "ver", "v", 2).Concat(KeysOn(node.Store, s2, "ver", "v", 2)).ToArray();
        string[] invalidated = [plain[0], versioned[^1]];
        var keys = plain.Concat(versioned).ToArray();

        var values = await node.Cache.GetOrSetManyAsync<string>(keys, Computing(async () =>
        {
            foreach (var key in invalidated)
            {
                await writer.Cache.InvalidateAsync(key, Ct); // deletes the placeholder (a versioned key's pointer): its CAS is gone
            }
        }), cancellationToken: Ct);

        Assert.All(keys, k => Assert.Equal("computed " + k, values[k])); // the caller still gets what its factory computed
        foreach (var key in keys)
        {
            var expected = invalidated.Contains(key) ? "recomputed " + key : "computed " + key;
            Assert.Equal(expected, await other.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("recomputed " + key), cancellationToken: Ct));
        }

        Assert.Equal(0, node.Logs.Count(4004)); // fenced out, not failed
    }

    [Fact]
    public async Task Versioned_keys_in_a_bulk_store_write_their_versions_then_their_pointers_each_step_one_batch_per_server()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulkver");
        await using var node = Node(servers, prefix);
        await using var other = Node(servers, prefix);
        var versioned = KeysOn(node.Store, s1, "ver", "v", 3).Concat(KeysOn(node.Store, s2, "ver", "v", 3)).ToArray();
        var plain = KeysOn(node.Store, s1, "item", "p", 2).Concat(KeysOn(node.Store, s2, "item", "p", 2)).ToArray();

        // One versioned key had a value whose pointer the read follows and finds unusable (its tag moved): its fill replaces it.
        await other.Cache.SetAsync(versioned[0], "before", new CacheEntryOptions { Tags = ["t"] }, Ct);
        await other.Cache.InvalidateTagAsync("t", Ct);

        var keys = versioned.Concat(plain).ToArray();
        ((long, long) S1, (long, long) S2, long Sets) atFactory = default;
        var values = await node.Cache.GetOrSetManyAsync<string>(keys, Computing(async () =>
            atFactory = (Sent(node, s1), Sent(node, s2), await SetsAsync(s1) + await SetsAsync(s2))), cancellationToken: Ct);
        var after = (Sent(node, s1), Sent(node, s2), await SetsAsync(s1) + await SetsAsync(s2));

        Assert.All(keys, k => Assert.Equal("computed " + k, values[k]));
        Assert.Equal((0L, 2L), Since(atFactory.S1, after.Item1)); // the plain stores with the new versions, then the pointers
        Assert.Equal((0L, 2L), Since(atFactory.S2, after.Item2));
        Assert.Equal((2 * versioned.Length) + plain.Length, after.Item3 - atFactory.Sets);
        foreach (var key in keys)
        {
            Assert.Equal("computed " + key, await other.Cache.GetOrSetAsync(key, Unexpected, cancellationToken: Ct));
        }
    }

    [Fact]
    public async Task A_server_that_dies_while_the_batch_factory_runs_leaves_its_keys_values_in_L1_only_and_the_other_servers_keys_are_stored()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulkdead");
        await using var node = McNode.Start(servers, prefix);

        // The dead one does not hold the clear counter, which every read after it needs.
        var clearOwner = node.Store.Cluster.Owner(node.Store.VersionWireKey(VersionKey.Clear)).Address.Port;
        var (survivor, victim) = clearOwner == s1.Port ? (s1, s2) : (s2, s1);
        var living = KeysOn(node.Store, survivor, "item", "living", 4);
        var dead = KeysOn(node.Store, victim, "item", "dead", 4);
        var keys = living.Concat(dead).ToArray();

        var values = await node.Cache.GetOrSetManyAsync<string>(keys, Computing(() =>
        {
            victim.Kill();
            return Task.CompletedTask;
        }), cancellationToken: Ct);

        Assert.All(keys, k => Assert.Equal("computed " + k, values[k]));
        Assert.All(keys, k => Assert.True(node.HasLocal(k), k)); // all kept in L1: a failed store is not a fence
        Assert.Equal(dead.Length, node.Logs.Count(4004)); // the dead server's keys, each logged as a failed store

        await using var survivorOnly = await Clients.StoreAsync(survivor, o => o.KeyPrefix = prefix);
        foreach (var key in living)
        {
            Assert.NotNull((await survivorOnly.ReadAsync(key, LeaseOptions.None, Ct)).Payload);
        }

        foreach (var key in dead)
        {
            Assert.Null((await survivorOnly.ReadAsync(key, LeaseOptions.None, Ct)).Payload); // never stored anywhere
        }
    }

    [Fact]
    public async Task A_bulk_lease_whose_lease_read_fails_throws_naming_its_keys_and_releases_the_placeholders_the_reads_won()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulklease");
        await using var node = McNode.Start(servers, prefix);
        await using var other = McNode.Start(servers, prefix);
        var clearOwner = node.Store.Cluster.Owner(node.Store.VersionWireKey(VersionKey.Clear)).Address.Port;
        var (survivor, victim) = clearOwner == s1.Port ? (s1, s2) : (s2, s1); // the clear counter stays readable
        var won = KeysOn(node.Store, survivor, "item", "won", 3);
        var unread = KeysOn(node.Store, victim, "item", "unread", 2);
        var reads = await ((ISharedTier)node.Tier).ReadManyAsync([.. won.Select(k => new SharedTierKey(k, "item"))], Ct);
        Assert.All(reads, r => Assert.True(r is { Status: SharedTierReadStatus.Miss, HasEpoch: true })); // each won its placeholder

        victim.Kill(); // the keys the engine's read did not win need a lease read, on the dead server
        var failure = await Assert.ThrowsAsync<CoherentException>(async () =>
            await ((ISharedTier)node.Tier).TryAcquireLeasesAsync([.. won, .. unread], TimeSpan.FromSeconds(5), Ct));
        Assert.All(unread, k => Assert.Contains(k, failure.Message, StringComparison.Ordinal));

        // All or nothing: the placeholders the reads won were released, so another node's read wins them at once.
        foreach (var key in won)
        {
            Assert.True((await other.Tier.ReadAsync(new SharedTierKey(key, "item"), Ct)) is { Status: SharedTierReadStatus.Miss, HasEpoch: true });
            Assert.NotNull(await other.Tier.TryAcquireLeaseAsync(key, TimeSpan.FromSeconds(1), Ct));
        }
    }
}
