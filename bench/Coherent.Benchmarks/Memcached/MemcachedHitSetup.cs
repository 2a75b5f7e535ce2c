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
/// <c>mg v</c> of the ~1 KB JSON product through Coherent's own client plus <c>JsonSerializer.Deserialize</c>, the figure the
/// tier's L2 hit will be compared with (issue 13: ≤ 1.15×).
/// </summary>
internal sealed class MemcachedHitSetup : IAsyncDisposable
{
    public const string Key = "product:42";
    private static readonly VersionKey[] Versions = [VersionKey.Tag("catalog"), VersionKey.Clear];

    private readonly MemcachedProcess _server;
    private readonly byte[] _bareKey;

    private MemcachedHitSetup(MemcachedProcess server, MemcachedStore store)
    {
        _server = server;
        Store = store;
        _bareKey = MemcachedKey.ToBase64("bare:product:42"u8);
    }

    public MemcachedStore Store { get; }

    public static async Task<MemcachedHitSetup> StartAsync()
    {
        var server = await MemcachedProcess.StartNewAsync();
        var store = await MemcachedStore.CreateAsync(new CoherentMemcachedOptions { Servers = server.Endpoint, KeyPrefix = "bench" });
        var setup = new MemcachedHitSetup(server, store);
        var json = Product.Utf8(Product.Sample(42));
        await store.Cluster.SendAsync(new MetaRequest(MetaVerb.Set, setup._bareKey, MetaRequestFlags.None, json));
        await store.StoreAsync(Key, json, TimeSpan.FromHours(1));
        _ = await setup.BareMgAsync() ?? throw new InvalidOperationException("the bare key was not stored");
        _ = await setup.StoreReadAsync() ?? throw new InvalidOperationException("the store key was not stored");
        return setup;
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
        var read = await Store.ReadAsync(Key, LeaseOptions.None);
        return JsonSerializer.Deserialize<Product>(read.Payload!.Value.Span, Product.Json);
    }

    /// <summary>The store's read with a lease asked for (<c>N30</c>) as a tier would on every L2 read, and deserialize.</summary>
    public async Task<Product?> StoreLeaseReadAsync()
    {
        var read = await Store.ReadAsync(Key, new LeaseOptions(TimeSpan.FromSeconds(30)));
        return JsonSerializer.Deserialize<Product>(read.Payload!.Value.Span, Product.Json);
    }

    /// <summary>The entry with a tag and the clear version in one batch (<c>mg</c> + 2 × <c>ma</c> + <c>mn</c>), and deserialize.</summary>
    public async Task<Product?> StoreReadWithVersionsAsync()
    {
        var read = await Store.ReadWithVersionsAsync(Key, new LeaseOptions(TimeSpan.FromSeconds(30)), Versions);
        return JsonSerializer.Deserialize<Product>(read.Entry.Payload!.Value.Span, Product.Json);
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        await _server.DisposeAsync();
    }
}
