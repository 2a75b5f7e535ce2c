using BenchmarkDotNet.Attributes;

namespace Coherent.Benchmarks.Memcached;

using Product = Coherent.Benchmarks.SharedTier.Product;

/// <summary>
/// L2 hit on Memcached through Coherent's client (<c>--filter '*MemcachedHit*'</c>): the bare <c>mg</c> + deserialize floor and
/// the store's reads above it, each case against its own throwaway memcached. See <see cref="MemcachedHitSetup"/>.
/// </summary>
public class MemcachedHitBenchmarks
{
    private MemcachedHitSetup _setup = null!;

    [GlobalSetup]
    public async Task SetupAsync() => _setup = await MemcachedHitSetup.StartAsync();

    [GlobalCleanup]
    public async Task CleanupAsync() => await _setup.DisposeAsync();

    [Benchmark(Baseline = true, Description = "bare mg + Deserialize")]
    public Task<Product?> BareMg() => _setup.BareMgAsync();

    [Benchmark(Description = "MemcachedStore.ReadAsync + Deserialize")]
    public Task<Product?> StoreRead() => _setup.StoreReadAsync();

    [Benchmark(Description = "MemcachedStore.ReadAsync (lease N30) + Deserialize")]
    public Task<Product?> StoreLeaseRead() => _setup.StoreLeaseReadAsync();

    [Benchmark(Description = "MemcachedStore.ReadWithVersionsAsync (1 tag + clear) + Deserialize")]
    public Task<Product?> StoreReadWithVersions() => _setup.StoreReadWithVersionsAsync();
}
