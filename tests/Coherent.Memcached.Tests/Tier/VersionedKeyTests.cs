using Coherent.Memcached.Protocol;
using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>
/// Versioned families on Memcached (<see cref="CoherentMemcachedOptions.VersionedFamilies"/>): the key's item is a pointer to
/// its current version, a write stores a new version before moving the pointer, the old one stays readable for the grace
/// period, and fills stay fenced by the pointer's CAS.
/// </summary>
public sealed class VersionedKeyTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Prefix() => KeyPrefix.New("mv");

    private static McNode Node(string servers, string prefix) => McNode.Start(servers, prefix, o => o.VersionedFamilies.Add("item"));

    /// <summary>The version the key's pointer names now; 0 when the key has no pointer.</summary>
    private static async Task<ulong> PointerAsync(McNode node, string key)
    {
        var read = await node.Store.ReadAsync(key, LeaseOptions.None, Ct);
        return read.Payload is { } payload && VersionPointer.TryRead(payload.Span, out var version) ? version : 0;
    }

    private static async Task<bool> VersionReadableAsync(McNode node, string key, ulong version) =>
        (await node.Store.ReadVersionedDataAsync(MemcachedKey.Utf8(key), version, Ct)).Payload is not null;

    [Fact]
    public async Task A_write_moves_the_pointer_to_a_new_version_that_other_nodes_read_while_the_old_one_stays_readable()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = Node(server.Endpoint, prefix);
        await using var b = Node(server.Endpoint, prefix);
        var source = new Source();

        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: Ct));
        var first = await PointerAsync(a, "item:1");
        Assert.NotEqual(0UL, first); // the key's item is a pointer, the value lives under its version
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: Ct)); // an L2 hit through the pointer
        Assert.Equal(1, source.Runs);

        await a.Cache.SetAsync("item:1", 7L, cancellationToken: Ct);

        var second = await PointerAsync(a, "item:1");
        Assert.NotEqual(first, second);
        Assert.True(await VersionReadableAsync(a, "item:1", first), "the replaced version went before its grace period");
        await using var c = Node(server.Endpoint, prefix);
        Assert.Equal(7, await c.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: Ct));
        Assert.Equal(1, source.Runs);
    }

    [Fact]
    public async Task A_fill_of_a_versioned_key_computed_before_an_invalidation_never_lands()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = Node(server.Endpoint, prefix);
        await using var b = Node(server.Endpoint, prefix);
        var source = new Source();
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:2", source.ReadAsync, cancellationToken: Ct));
        await a.Cache.InvalidateAsync("item:2", Ct);
        var factoryRead = new TaskCompletionSource();
        var release = new TaskCompletionSource();

        // A recomputes from the source (v1), and is held while B changes the source and invalidates.
        var pending = a.Cache.GetOrSetAsync("item:2", async _ =>
        {
            var v = source.Version;
            factoryRead.SetResult();
            await release.Task;
            return v;
        }, cancellationToken: Ct).AsTask();
        await factoryRead.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        source.Bump();
        await b.Cache.InvalidateAsync("item:2", Ct);
        release.SetResult();
        Assert.Equal(1, await pending);

        Assert.Equal(0UL, await PointerAsync(a, "item:2")); // no pointer moved to the fenced-out version
        await using var c = Node(server.Endpoint, prefix);
        Assert.Equal(2, await c.Cache.GetOrSetAsync("item:2", source.ReadAsync, cancellationToken: Ct));
    }

    [Fact]
    public async Task A_fill_of_a_versioned_key_started_before_a_write_through_is_not_stored_over_it()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = Node(server.Endpoint, prefix);
        await using var b = Node(server.Endpoint, prefix);
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var pending = a.Cache.GetOrSetAsync("item:w", async _ => { started.SetResult(); await release.Task; return "computed-before"; }, cancellationToken: Ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);

        await b.Cache.SetAsync("item:w", "written", cancellationToken: Ct);
        var written = await PointerAsync(b, "item:w");
        release.SetResult();
        await pending;

        Assert.Equal(written, await PointerAsync(b, "item:w"));
        await using var c = Node(server.Endpoint, prefix);
        Assert.Equal("written", await c.Cache.GetOrSetAsync("item:w", _ => ValueTask.FromResult("factory"), cancellationToken: Ct));
    }

    [Fact]
    public async Task A_store_on_a_versioned_key_with_an_old_epoch_is_fenced_out_and_its_version_deleted()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = Node(server.Endpoint, Prefix());
        var key = new SharedTierKey("item:4", "item");
        var miss = await a.Tier.ReadAsync(key, Ct);
        await a.Tier.InvalidateAsync(key, Ct);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var entry = new SharedTierEntry { Payload = "1"u8.ToArray(), CreatedAtMs = now, ExpiresAtMs = now + 60_000 };

        Assert.False(await a.Tier.StoreIfEpochAsync(key, entry, miss.Epoch, null, Ct));
        Assert.Equal(0UL, await PointerAsync(a, "item:4"));
        var again = await a.Tier.ReadAsync(key, Ct);
        Assert.True(await a.Tier.StoreIfEpochAsync(key, entry, again.Epoch, null, Ct));
        var read = await a.Tier.ReadAsync(key, Ct);
        Assert.True(read.Found);
        Assert.Equal("1"u8.ToArray(), read.Entry!.Payload.ToArray());
    }

    [Fact]
    public async Task An_invalidation_removes_the_pointer_and_leaves_the_version_to_its_grace_period()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix, o => { o.VersionedFamilies.Add("item"); o.OldVersionGrace = TimeSpan.FromSeconds(30); });
        await a.Cache.GetOrSetAsync("item:5", _ => ValueTask.FromResult("v1"), cancellationToken: Ct);
        var version = await PointerAsync(a, "item:5");

        await a.Cache.InvalidateAsync("item:5", Ct);

        Assert.Equal(0UL, await PointerAsync(a, "item:5"));
        Assert.True(await VersionReadableAsync(a, "item:5", version));
        var ttl = (await a.Store.Cluster.SendAsync(new MetaRequest(MetaVerb.Get, VersionWireKey(a, "item:5", version), MetaRequestFlags.ReturnTtl), Ct)).Ttl;
        Assert.InRange(ttl ?? -1, 1, 30); // shortened from the entry's 5 minutes to the grace period
        await using var b = McNode.Start(server.Endpoint, prefix, o => o.VersionedFamilies.Add("item"));
        Assert.Equal("v2", await b.Cache.GetOrSetAsync("item:5", _ => ValueTask.FromResult("v2"), cancellationToken: Ct));
    }

    private static byte[] VersionWireKey(McNode node, string key, ulong version)
    {
        var utf8 = MemcachedKey.Utf8(key);
        var name = new byte[8 + utf8.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(name, version);
        utf8.CopyTo(name, 8);
        return new MemcachedKey(node.Tier.Options.KeyPrefix).Encode((byte)'v', name);
    }

    [Fact]
    public async Task A_versioned_family_that_is_not_declared_is_a_configuration_problem_naming_it()
    {
        var thrown = Assert.Throws<CoherentConfigurationException>(() => new CoherentCacheBuilder()
            .Define("product", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(1)))
            .WithMemcached("127.0.0.1:1", o => { o.VersionedFamilies.Add("product"); o.VersionedFamilies.Add("prodcut"); })
            .Build());
        var problem = Assert.Single(thrown.Problems);
        Assert.Equal("Memcached: versioned family 'prodcut' is not declared on the cache: declare it (Define(\"prodcut\", ...)) or remove it from VersionedFamilies.", problem);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Early_refresh_of_a_versioned_key_moves_the_pointer_and_leaves_the_old_version_to_its_grace_period()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        void Hot(CoherentCacheBuilder b) => b.Define("hot", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)).EarlyRefresh(1e6));
        void Versioned(CoherentMemcachedOptions o) { o.VersionedFamilies.Add("hot"); o.OldVersionGrace = TimeSpan.FromSeconds(20); }
        await using var a = McNode.Start(server.Endpoint, prefix, Versioned, Hot);
        await using var b = McNode.Start(server.Endpoint, prefix, Versioned, Hot);
        var source = new Source();
        async ValueTask<long> Slow(CancellationToken c)
        {
            await Task.Delay(20, c);
            return await source.ReadAsync(c);
        }

        Assert.Equal(1, await a.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: Ct));
        Assert.Equal(1, await b.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: Ct));
        var first = await PointerAsync(a, "hot:1");
        source.Bump(); // no invalidation: only early refresh can pick this up before the TTL
        await Eventually.TrueAsync(async () => await a.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: Ct) == 2 & await b.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: Ct) == 2,
            TimeSpan.FromSeconds(5), "early refresh never produced the new value");

        Assert.NotEqual(first, await PointerAsync(a, "hot:1"));
        var ttl = (await a.Store.Cluster.SendAsync(new MetaRequest(MetaVerb.Get, VersionWireKey(a, "hot:1", first), MetaRequestFlags.ReturnTtl), Ct)).Ttl;
        Assert.InRange(ttl ?? -1, 1, 20); // the refreshed-over version: shortened from 5 minutes to the grace period
    }
}
