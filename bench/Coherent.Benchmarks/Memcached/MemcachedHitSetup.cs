using Coherent.Benchmarks.SharedTier;
using System.Text.Json;
using Coherent.Memcached;
using Coherent.Memcached.Protocol;
using Coherent.Memcached.Store;

namespace Coherent.Benchmarks.Memcached;

// The shared tier's ~1 KB product (the value the Redis L2-hit figures read), not the serializer benchmark's record of the
// same name one namespace up.
using Product = Coherent.Benchmarks.SharedTier.Product;

/// <summary>
/// The L2-hit steps on Memcached, shared by the BenchmarkDotNet class and the interleaved console run: the floor is a bare
/// <c>mg v</c> of the ~1 KB JSON product through the Coherent node's own client plus <c>JsonSerializer.Deserialize</c>, the
/// figure the tier's L2 hit is compared with (issue 13: ≤ 1.15×); above it the store's reads and Coherent's L2 hit (the
/// node's L1 copy dropped before each operation).
/// </summary>
internal sealed class MemcachedHitSetup : IAsyncDisposable
{
    /// <summary>The cache's key (an envelope under it, written by the cache).</summary>
    public const string Key = "product:42";

    /// <summary>The store-level steps' key (the bare JSON under the store's framing).</summary>
    private const string RawKey = "raw:product:42";

    private static readonly VersionKey[] Versions = [VersionKey.Tag("catalog"), VersionKey.Clear];

    private readonly MemcachedProcess _server;
    private readonly byte[] _bareKey;
    private readonly Product _sample = Product.Sample(42);
    private MetaRequest _clearRead;

    private MemcachedHitSetup(MemcachedProcess server, CoherentCache cache)
    {
        _server = server;
        Cache = cache;
        Tier = cache.Diagnostics.SharedTierAs<MemcachedTier>();
        Store = Tier.Store;
        _bareKey = MemcachedKey.ToBase64("bare:product:42"u8);
        _clearRead = new MetaRequest(MetaVerb.Arithmetic, Store.VersionWireKey(VersionKey.Clear), MetaRequestFlags.Vivify | MetaRequestFlags.Initial | MetaRequestFlags.ReturnValue | MetaRequestFlags.Delta, Initial: 1, Delta: 0);
    }

    public CoherentCache Cache { get; }

    internal MemcachedTier Tier { get; }

    public MemcachedStore Store { get; }

    /// <summary>A Coherent node on Memcached with the bench's families (values never expire during a run).</summary>
    public static CoherentCache Node(string servers, string prefix) => new CoherentCacheBuilder()
        .DefaultPolicy(p => p.MaxStaleness(SharedNodes.Expiry).Ttl(SharedNodes.Expiry).NoEarlyRefresh())
        .Define("product", p => p.MaxStaleness(SharedNodes.Expiry).Ttl(SharedNodes.Expiry).NoEarlyRefresh())
        .WithMemcached(servers, o => o.KeyPrefix = prefix)
        .Build();

    public static async Task<MemcachedHitSetup> StartAsync()
    {
        var server = await MemcachedProcess.StartNewAsync();
        var setup = new MemcachedHitSetup(server, Node(server.Endpoint, "bench"));
        var json = Product.Utf8(setup._sample);
        await setup.Store.Cluster.SendAsync(new MetaRequest(MetaVerb.Set, setup._bareKey, MetaRequestFlags.None, json));
        await setup.Store.StoreAsync(RawKey, json, TimeSpan.FromHours(1));
        await setup.Cache.SetAsync(Key, setup._sample);
        _ = await setup.BareMgAsync() ?? throw new InvalidOperationException("the bare key was not stored");
        _ = await setup.StoreReadAsync() ?? throw new InvalidOperationException("the store key was not stored");
        await setup.CoherentL2HitAsync(); // throws if it is not an L2 hit
        return setup;
    }

    /// <summary>Coherent's L2 hit: the node's L1 copy dropped, then <c>GetOrSetAsync</c> (a factory run would throw: it must be a hit).</summary>
    public async Task<Product?> CoherentL2HitAsync()
    {
        SharedNodes.DropLocal(Cache, Key);
        return await Cache.GetOrSetAsync<Product>(Key, static _ => throw new InvalidOperationException("not an L2 hit"));
    }

    /// <summary>Diagnostics: the bare <c>mg</c> and an <c>ma … D0</c> of the clear counter as two concurrent requests (no batch), and deserialize.</summary>
    public async Task<Product?> BareMgPlusCounterAsync()
    {
        var counter = Store.ReadVersionAsync(VersionKey.Clear);
        var response = await Store.Cluster.SendAsync(new MetaRequest(MetaVerb.Get, _bareKey, MetaRequestFlags.ReturnValue));
        await counter;
        return JsonSerializer.Deserialize<Product>(response.Value, Product.Json);
    }

    /// <summary>Diagnostics: the bare <c>mg</c> and the clear counter in one batch (<c>mg</c>, <c>ma</c>, <c>mn</c>), and deserialize.</summary>
    public async Task<Product?> BareMgBatchedCounterAsync()
    {
        var responses = await Store.Cluster.SendManyAsync([new MetaRequest(MetaVerb.Get, _bareKey, MetaRequestFlags.ReturnValue), _clearRead]);
        return JsonSerializer.Deserialize<Product>(responses[0].Value, Product.Json);
    }

    /// <summary>The tier's read (entry + clear counter in one round trip, envelope checks) and deserialize.</summary>
    public async Task<Product?> TierReadAsync()
    {
        var read = await Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey(Key, "product"), CancellationToken.None);
        return JsonSerializer.Deserialize<Product>(read.Entry!.Payload.Span, Product.Json);
    }

    /// <summary>Baseline: <c>mg &lt;key&gt; b v</c> and deserialize the value.</summary>
    public async Task<Product?> BareMgAsync()
    {
        var response = await Store.Cluster.SendAsync(new MetaRequest(MetaVerb.Get, _bareKey, MetaRequestFlags.ReturnValue));
        return JsonSerializer.Deserialize<Product>(response.Value, Product.Json);
    }

    /// <summary>The store's read (<c>mg v c t</c>, framing check, full-key compare) and deserialize.</summary>
    public async Task<Product?> StoreReadAsync()
    {
        var read = await Store.ReadAsync(RawKey, LeaseOptions.None);
        return JsonSerializer.Deserialize<Product>(read.Payload!.Value.Span, Product.Json);
    }

    /// <summary>The store's read with a lease asked for (<c>N30</c>) as a tier would on every L2 read, and deserialize.</summary>
    public async Task<Product?> StoreLeaseReadAsync()
    {
        var read = await Store.ReadAsync(RawKey, new LeaseOptions(TimeSpan.FromSeconds(30)));
        return JsonSerializer.Deserialize<Product>(read.Payload!.Value.Span, Product.Json);
    }

    /// <summary>The entry with a tag and the clear version in one batch (<c>mg</c> + 2 × <c>ma</c> + <c>mn</c>), and deserialize.</summary>
    public async Task<Product?> StoreReadWithVersionsAsync()
    {
        var read = await Store.ReadWithVersionsAsync(RawKey, new LeaseOptions(TimeSpan.FromSeconds(30)), Versions);
        return JsonSerializer.Deserialize<Product>(read.Entry.Payload!.Value.Span, Product.Json);
    }

    public async ValueTask DisposeAsync()
    {
        await Cache.DisposeAsync();
        await _server.DisposeAsync();
    }
}
