using Coherent.Memcached.Store;
using Coherent.Memcached.Tests.Infrastructure;
using Coherent.SharedTier;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>
/// Bulk reads on Memcached (issue 15, part 2): every key's first read goes out in one batch per server, each key is judged
/// exactly as its single read judges it, and a server that fails answers Unavailable for its own keys only.
/// </summary>
public sealed class BulkReadTests
{
    private static readonly TimeSpan SafeTtl = TimeSpan.FromMinutes(1);

    private static readonly byte[] Signing = "a-signing-key-of-32-bytes-long!!"u8.ToArray();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A node with the versioned family <c>ver</c> and the fail-safe family <c>safe</c> (Ttl one minute), on a shared fake clock.</summary>
    private static McNode Node(string servers, string prefix, FakeTimeProvider time, bool signedEnvelopes) =>
        McNode.Start(servers, prefix, o =>
        {
            o.VersionedFamilies.Add("ver");
            o.SigningKey = signedEnvelopes ? Signing : null;
        }, b => b.WithTimeProvider(time)
            .Define("ver", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(5)).Jitter(0).NoEarlyRefresh())
            .Define("safe", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(SafeTtl).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromHours(1), TimeSpan.FromSeconds(30))));

    /// <summary><paramref name="count"/> keys named <c>family:name-i</c> whose items live on <paramref name="server"/> when every server is up.</summary>
    private static string[] KeysOn(MemcachedStore store, MemcachedProcess server, string family, string name, int count) =>
        Enumerable.Range(0, 10_000).Select(i => $"{family}:{name}-{i}")
            .Where(k => store.Cluster.Owner(store.DataKey(k)).Address.Port == server.Port).Take(count).ToArray();

    /// <summary>Two keys of the <c>item</c> family on each server under <paramref name="prefix"/>.</summary>
    private static async Task<string[]> HitsOnBothAsync(string prefix, MemcachedProcess s1, MemcachedProcess s2)
    {
        await using var store = await Clients.StoreAsync([s1, s2], o => o.KeyPrefix = prefix);
        return [.. KeysOn(store, s1, "item", "hit", 2), .. KeysOn(store, s2, "item", "hit", 2)];
    }

    private static async Task<long> GetsAsync(MemcachedProcess server) => long.Parse((await server.StatAsync("cmd_get", Ct))!, System.Globalization.CultureInfo.InvariantCulture);

    private static (long Singles, long Batches) Sent(McNode node, MemcachedProcess server) =>
        node.Store.Cluster.Servers.Single(s => s.Address.Port == server.Port).Sent;

    private static ValueTask<IReadOnlyDictionary<string, string>> Unexpected(IReadOnlyList<string> keys, CancellationToken _) =>
        throw new InvalidOperationException($"the factory was asked for {string.Join(", ", keys)}, which Memcached holds");

    [Fact]
    public async Task A_batch_larger_than_MaxKeysPerBatch_is_split_into_batches_of_at_most_that_many_not_refused()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("bulksplit");
        await using var writer = McNode.Start(server.Endpoint, prefix);
        await using var reader = McNode.Start(server.Endpoint, prefix, o => o.MaxKeysPerBatch = 5);
        var keys = Enumerable.Range(0, 12).Select(i => $"item:split-{i}").ToArray();
        foreach (var key in keys)
        {
            await writer.Cache.SetAsync(key, key, cancellationToken: Ct);
        }

        var before = (Sent(reader, server), await GetsAsync(server));
        var values = await reader.Cache.GetOrSetManyAsync<string>(keys, Unexpected, cancellationToken: Ct);
        var after = (Sent(reader, server), await GetsAsync(server));

        Assert.Equal(keys, keys.Select(k => values[k]));
        Assert.Equal(12, after.Item2 - before.Item2); // every key read once
        Assert.Equal(0, after.Item1.Singles - before.Item1.Singles);
        Assert.InRange(after.Item1.Batches - before.Item1.Batches, 3, 4); // 12 mg (and the counters they need) in batches of at most 5
    }

    [Fact]
    public async Task A_bulk_read_of_keys_on_two_servers_is_one_batch_per_server_with_one_mg_per_key_and_no_request_of_its_own()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulkbatch");
        await using var writer = McNode.Start(servers, prefix);
        await using var reader = McNode.Start(servers, prefix);
        var keys = KeysOn(writer.Store, s1, "item", "a", 12).Concat(KeysOn(writer.Store, s2, "item", "b", 12)).ToArray();
        foreach (var key in keys)
        {
            await writer.Cache.SetAsync(key, key, cancellationToken: Ct);
        }

        var before = (Sent(reader, s1), Sent(reader, s2), await GetsAsync(s1), await GetsAsync(s2));
        var values = await reader.Cache.GetOrSetManyAsync<string>(keys, Unexpected, cancellationToken: Ct);
        var after = (Sent(reader, s1), Sent(reader, s2), await GetsAsync(s1), await GetsAsync(s2));

        Assert.Equal(keys, keys.Select(k => values[k]));
        Assert.Equal((0L, 1L), (after.Item1.Singles - before.Item1.Singles, after.Item1.Batches - before.Item1.Batches)); // s1: one batch
        Assert.Equal((0L, 1L), (after.Item2.Singles - before.Item2.Singles, after.Item2.Batches - before.Item2.Batches)); // s2: one batch
        Assert.Equal(12, after.Item3 - before.Item3); // one mg per key, as the server counts them
        Assert.Equal(12, after.Item4 - before.Item4);
    }

    [Fact]
    public async Task Tagged_keys_read_again_in_bulk_ask_their_guessed_tag_with_the_entries_in_the_one_batch_per_server_and_see_its_bump()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulktags");
        await using var writer = McNode.Start(servers, prefix);
        await using var reader = McNode.Start(servers, prefix);
        var keys = KeysOn(writer.Store, s1, "item", "tagged", 4).Concat(KeysOn(writer.Store, s2, "item", "tagged", 4)).ToArray();
        foreach (var key in keys)
        {
            await writer.Cache.SetAsync(key, key, new CacheEntryOptions { Tags = ["t", "u"] }, Ct);
        }

        var tierKeys = keys.Select(k => new SharedTierKey(k, "item")).ToArray();
        Assert.All(await ((ISharedTier)reader.Tier).ReadManyAsync(tierKeys, Ct), r => Assert.True(r.Found)); // learns the keys' tags

        var before = (Sent(reader, s1), Sent(reader, s2));
        Assert.All(await ((ISharedTier)reader.Tier).ReadManyAsync(tierKeys, Ct), r => Assert.True(r.Found));
        var after = (Sent(reader, s1), Sent(reader, s2));
        Assert.Equal((0L, 1L), (after.Item1.Singles - before.Item1.Singles, after.Item1.Batches - before.Item1.Batches)); // no round trip for a tag
        Assert.Equal((0L, 1L), (after.Item2.Singles - before.Item2.Singles, after.Item2.Batches - before.Item2.Batches));

        await writer.Cache.InvalidateTagAsync("u", Ct);
        Assert.All(await ((ISharedTier)reader.Tier).ReadManyAsync(tierKeys, Ct), r => Assert.True(r is { Status: SharedTierReadStatus.Miss, HasEpoch: true }));
    }

    /// <summary>
    /// The same keys in the same states under two prefixes: each state a single read judges its own way (hit, miss, tag
    /// invalidated, versioned hit and miss, unreadable bytes, a kept value expired (<c>X W</c>), one another node recomputes
    /// (<c>X Z</c>), one invalidated). The hits are named by the caller: on both servers under the prefix it reads in bulk.
    /// </summary>
    private static async Task<string[]> ArrangeAsync(string servers, string prefix, FakeTimeProvider time, bool signedEnvelopes, string[] hits)
    {
        await using var writer = Node(servers, prefix, time, signedEnvelopes);
        foreach (var key in hits)
        {
            await writer.Cache.SetAsync(key, "stored " + key, cancellationToken: Ct);
        }

        await writer.Cache.SetAsync("item:tagged", "before-the-tag-moved", new CacheEntryOptions { Tags = ["t"] }, Ct);
        await writer.Cache.InvalidateTagAsync("t", Ct);
        await writer.Cache.SetAsync("ver:1", "first", cancellationToken: Ct);
        await writer.Cache.SetAsync("ver:1", "second", cancellationToken: Ct);
        await writer.Store.WriteAsync("item:garbage", "not an envelope"u8.ToArray(), TimeSpan.FromMinutes(5), Ct);
        foreach (var key in new[] { "safe:kept", "safe:held", "safe:gone" })
        {
            await writer.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("last-good " + key), cancellationToken: Ct);
        }

        await writer.Cache.InvalidateAsync("safe:gone", Ct);
        return [.. hits, "item:tagged", "ver:1", "item:garbage", "item:none", "ver:none", "safe:kept", "safe:held", "safe:gone"];
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_tiers_bulk_read_answers_each_key_in_order_exactly_as_its_single_read_does(bool signedEnvelopes)
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (bulkPrefix, singlePrefix) = (KeyPrefix.New("bulkjudge"), KeyPrefix.New("singlejudge"));
        var hits = await HitsOnBothAsync(bulkPrefix, s1, s2);
        var keys = await ArrangeAsync(servers, bulkPrefix, time, signedEnvelopes, hits);
        var singleKeys = await ArrangeAsync(servers, singlePrefix, time, signedEnvelopes, hits);
        time.Advance(SafeTtl + TimeSpan.FromMinutes(1)); // the safe family's values expired, kept for fail-safe

        await using var bulk = Node(servers, bulkPrefix, time, signedEnvelopes);
        await using var single = Node(servers, singlePrefix, time, signedEnvelopes);
        await using var bulkOther = Node(servers, bulkPrefix, time, signedEnvelopes);
        await using var singleOther = Node(servers, singlePrefix, time, signedEnvelopes);
        Assert.NotNull((await bulkOther.Tier.ReadAsync(new SharedTierKey("safe:held", "safe"), Ct)).Stale); // another node recomputes it
        Assert.NotNull((await singleOther.Tier.ReadAsync(new SharedTierKey("safe:held", "safe"), Ct)).Stale);

        var tierKeys = keys.Select(k => new SharedTierKey(k, k[..k.IndexOf(':')])).ToArray();
        var batch = await ((ISharedTier)bulk.Tier).ReadManyAsync(tierKeys, Ct);
        var singles = new List<SharedTierRead>();
        foreach (var key in singleKeys)
        {
            singles.Add(await single.Tier.ReadAsync(new SharedTierKey(key, key[..key.IndexOf(':')]), Ct));
        }

        static string Show(SharedTierRead r) =>
            $"{r.Status} epoch:{(r.HasEpoch ? r.Epoch != 0 : "none")} value:{Text(r.Entry?.Payload)} stale:{Text(r.Stale?.Payload)}";
        static string Text(ReadOnlyMemory<byte>? payload) => payload is { } p ? System.Text.Encoding.UTF8.GetString(p.Span) : "-";
        Assert.Equal(singles.Select(Show), batch.Select(Show));
        Assert.Equal(singleKeys, keys); // the same names on both sides, so the answers line up key by key

        // And what those answers are: the hits found, every other key a miss fenced by an epoch, the kept values stale.
        var byKey = keys.Zip(batch).ToDictionary(p => p.First, p => p.Second);
        Assert.All(keys.Where(k => k.StartsWith("item:hit", StringComparison.Ordinal)), k => Assert.True(byKey[k].Found, k));
        Assert.True(byKey["ver:1"].Found);
        Assert.All(keys.Where(k => !k.StartsWith("item:hit", StringComparison.Ordinal) && k != "ver:1"),
            k => Assert.True(byKey[k] is { Status: SharedTierReadStatus.Miss, HasEpoch: true, Epoch: not 0 }, $"{k}: {Show(byKey[k])}"));
        Assert.NotNull(byKey["safe:kept"].Stale); // expired and kept: this read won its recompute with it (X W)
        Assert.NotNull(byKey["safe:held"].Stale); // another node recomputes it: the value at once (X Z)
        Assert.Null(byKey["safe:gone"].Stale); // invalidated: never served
        Assert.Equal(1, bulk.Tier.Rejections.Values.Sum()); // the unreadable bytes, refused and counted as a single read does
        Assert.Equal(1, single.Tier.Rejections.Values.Sum());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetOrSetManyAsync_on_two_servers_serves_hits_computes_the_misses_fenced_and_serves_only_kept_values_by_fail_safe(bool signedEnvelopes)
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulkmany");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var keys = await ArrangeAsync(servers, prefix, time, signedEnvelopes, await HitsOnBothAsync(prefix, s1, s2));
        time.Advance(SafeTtl + TimeSpan.FromMinutes(1));
        await using var reader = Node(servers, prefix, time, signedEnvelopes);
        await using var writer = Node(servers, prefix, time, signedEnvelopes);

        var asked = new List<string>();
        var plain = keys.Where(k => !k.StartsWith("safe:", StringComparison.Ordinal)).ToArray();
        var values = await reader.Cache.GetOrSetManyAsync<string>(plain, (missing, _) =>
        {
            asked.AddRange(missing);
            return ValueTask.FromResult<IReadOnlyDictionary<string, string>>(missing.ToDictionary(k => k, k => "computed " + k));
        }, cancellationToken: Ct);

        Assert.Equal(["item:garbage", "item:none", "item:tagged", "ver:none"], asked.Order(StringComparer.Ordinal));
        Assert.All(plain.Where(k => k.StartsWith("item:hit", StringComparison.Ordinal)), k => Assert.Equal("stored " + k, values[k]));
        Assert.Equal("second", values["ver:1"]); // the versioned family follows its pointer
        Assert.All(asked, k => Assert.Equal("computed " + k, values[k]));

        // The misses were fenced by the epochs the batch read: their fills are in Memcached for another node.
        foreach (var key in asked)
        {
            Assert.Equal("computed " + key, await writer.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("again"), cancellationToken: Ct));
        }

        // Fail-safe through a batch: the value Memcached kept past its Ttl is served when the factory fails; an invalidated one never.
        static ValueTask<IReadOnlyDictionary<string, string>> Failing(IReadOnlyList<string> keys, CancellationToken _) => throw new InvalidOperationException("the source is down");
        Assert.Equal("last-good safe:kept", (await reader.Cache.GetOrSetManyAsync<string>(["safe:kept"], Failing, cancellationToken: Ct))["safe:kept"]);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await reader.Cache.GetOrSetManyAsync<string>(["safe:gone"], Failing, cancellationToken: Ct));
    }

    [Fact]
    public async Task A_dead_servers_keys_are_Unavailable_and_computed_without_being_stored_while_the_other_servers_keys_hit()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("bulkdown");
        await using var writer = McNode.Start(servers, prefix);

        // The dead one does not hold the clear counter: losing that one makes every key's read Unavailable, single or batched.
        var clearOwner = writer.Store.Cluster.Owner(writer.Store.VersionWireKey(VersionKey.Clear)).Address.Port;
        var (survivor, victim) = clearOwner == s1.Port ? (s1, s2) : (s2, s1);
        var living = KeysOn(writer.Store, survivor, "item", "living", 5);
        var dead = KeysOn(writer.Store, victim, "item", "dead", 5);
        var keys = living.Concat(dead).ToArray();
        foreach (var key in keys)
        {
            await writer.Cache.SetAsync(key, "stored " + key, cancellationToken: Ct);
        }

        victim.Kill();
        await using var reader = McNode.Start(servers, prefix);
        var reads = await ((ISharedTier)reader.Tier).ReadManyAsync(keys.Select(k => new SharedTierKey(k, "item")).ToArray(), Ct);
        Assert.All(reads.Take(living.Length), r => Assert.True(r.Found));
        Assert.All(reads.Skip(living.Length), r => Assert.Equal(SharedTierReadStatus.Unavailable, r.Status));

        await using var another = McNode.Start(servers, prefix); // its breaker has seen no failure yet: the dead server still owns its keys
        var asked = new List<string>();
        var values = await another.Cache.GetOrSetManyAsync<string>(keys, (missing, _) =>
        {
            asked.AddRange(missing);
            return ValueTask.FromResult<IReadOnlyDictionary<string, string>>(missing.ToDictionary(k => k, k => "computed " + k));
        }, cancellationToken: Ct);

        Assert.Equal(dead.Order(StringComparer.Ordinal), asked.Order(StringComparer.Ordinal));
        Assert.All(living, k => Assert.Equal("stored " + k, values[k]));
        Assert.All(dead, k => Assert.Equal("computed " + k, values[k]));

        // Computed without a read of the tier, so never stored: not on the survivor either, where the ring would send them next.
        await using var survivorOnly = await Clients.StoreAsync(survivor, o => o.KeyPrefix = prefix);
        foreach (var key in dead)
        {
            Assert.Null((await survivorOnly.ReadAsync(key, LeaseOptions.None, Ct)).Payload);
        }
    }
}
