using Coherent.SharedTier;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>
/// An <see cref="IDistributedCache"/> as a storage-only shared tier (Microsoft's in-memory implementation, shared by two
/// nodes as two processes would share a SQL Server table): what it gives, and the bounds it cannot tighten.
/// </summary>
public sealed class DistributedCacheTierTests
{
    private static readonly TimeSpan MaxStaleness = TimeSpan.FromSeconds(5);

    private static CoherentCache Node(FakeTimeProvider time, IDistributedCache store, TimeSpan? ttl = null) =>
        new CoherentCacheBuilder().WithTimeProvider(time).WithName("dc")
            .Define("price", p => p.MaxStaleness(MaxStaleness).Ttl(ttl ?? MaxStaleness).Jitter(0).NoEarlyRefresh())
            .WithDistributedCache(store)
            .Build();

    private static MemoryDistributedCache Store() => new(Options.Create(new MemoryDistributedCacheOptions()));

    [Fact]
    public async Task A_value_one_node_computed_is_read_by_another_without_running_its_factory()
    {
        var time = T.Clock();
        var store = Store();
        await using var a = Node(time, store);
        await using var b = Node(time, store);

        Assert.Equal(1, await a.GetOrSetAsync("price:1", _ => ValueTask.FromResult(1), cancellationToken: T.Ct));
        Assert.Equal(1, await b.GetOrSetAsync("price:1", _ => ValueTask.FromResult(2), cancellationToken: T.Ct));
        Assert.Equal(SharedTierState.Healthy, b.SharedTierState);
    }

    [Fact]
    public async Task Metadata_travels_with_the_value_and_a_value_with_tags_added_by_its_factory_stays_local()
    {
        var time = T.Clock();
        var store = Store();
        await using var a = Node(time, store, ttl: TimeSpan.FromMinutes(10));
        await using var b = Node(time, store, ttl: TimeSpan.FromMinutes(10));
        await a.GetOrSetAsync<int>("price:m", (context, _) => { context.Metadata = "etag-1"; return ValueTask.FromResult(1); }, cancellationToken: T.Ct);
        Assert.Equal(1, await b.GetOrSetAsync("price:m", _ => ValueTask.FromResult(2), cancellationToken: T.Ct));
        Assert.Equal("etag-1", b.Diagnostics.LocalEntry("price:m")!.Metadata);

        // This tier keeps no fleet-wide count of tag invalidations: a tag added by the factory cannot be fenced in it.
        Assert.Equal(1, await a.GetOrSetAsync<int>("price:t", (context, _) => { context.AddTags("t"); return ValueTask.FromResult(1); }, cancellationToken: T.Ct));
        Assert.Equal(1, await a.GetOrSetAsync("price:t", _ => ValueTask.FromResult(3), cancellationToken: T.Ct)); // L1
        Assert.Equal(2, await b.GetOrSetAsync("price:t", _ => ValueTask.FromResult(2), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Another_nodes_copy_lives_at_most_max_staleness_after_an_invalidation()
    {
        var time = T.Clock();
        var store = Store();
        await using var a = Node(time, store, ttl: TimeSpan.FromMinutes(10));
        await using var b = Node(time, store, ttl: TimeSpan.FromMinutes(10));
        await b.GetOrSetAsync("price:1", _ => ValueTask.FromResult("old"), cancellationToken: T.Ct);

        await a.InvalidateAsync("price:1", T.Ct); // no bus: b is not told
        time.Advance(MaxStaleness - TimeSpan.FromMilliseconds(1));
        Assert.Equal("old", await b.GetOrSetAsync("price:1", _ => ValueTask.FromResult("new"), cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(2));
        Assert.Equal("new", await b.GetOrSetAsync("price:1", _ => ValueTask.FromResult("new"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_tag_invalidation_or_a_clear_makes_the_stored_entries_misses_on_every_node()
    {
        var time = T.Clock();
        var store = Store();
        await using var a = Node(time, store, ttl: TimeSpan.FromMinutes(10));
        await using var b = Node(time, store, ttl: TimeSpan.FromMinutes(10));
        var tagged = new CacheEntryOptions { Tags = ["shop"] };
        await a.GetOrSetAsync("price:1", _ => ValueTask.FromResult("tagged-old"), tagged, T.Ct);
        await a.GetOrSetAsync("price:2", _ => ValueTask.FromResult("plain-old"), cancellationToken: T.Ct);

        await a.InvalidateTagAsync("shop", T.Ct);
        Assert.Equal("tagged-new", await b.GetOrSetAsync("price:1", _ => ValueTask.FromResult("tagged-new"), tagged, T.Ct));
        Assert.Equal("plain-old", await b.GetOrSetAsync("price:2", _ => ValueTask.FromResult("plain-new"), cancellationToken: T.Ct));

        await a.ClearAsync(T.Ct);
        await using var c = Node(time, store, ttl: TimeSpan.FromMinutes(10));
        Assert.Equal("plain-new", await c.GetOrSetAsync("price:2", _ => ValueTask.FromResult("plain-new"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_family_whose_ttl_exceeds_its_max_staleness_is_reported_with_the_bound_that_holds()
    {
        await using var cache = Node(T.Clock(), Store(), ttl: TimeSpan.FromMinutes(10));
        var report = cache.DescribePolicies();
        Assert.Contains(report.Notes, n => n.StartsWith("price: bound 10m (its ttl), not 5s", StringComparison.Ordinal));
        Assert.Contains(report.Notes, n => n.Contains("No invalidation bus", StringComparison.Ordinal));
        Assert.Contains("note: price: bound 10m", report.ToString(), StringComparison.Ordinal);

        await using var tight = Node(T.Clock(), Store(), ttl: MaxStaleness);
        Assert.DoesNotContain(tight.DescribePolicies().Notes, n => n.StartsWith("price:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Foreign_bytes_under_a_key_are_a_miss_that_the_recompute_overwrites()
    {
        var time = T.Clock();
        var store = Store();
        await store.SetAsync("coherent:dc:price:1", "not coherent's"u8.ToArray(), T.Ct);
        await using var a = Node(time, store);

        Assert.Equal(7, await a.GetOrSetAsync("price:1", _ => ValueTask.FromResult(7), cancellationToken: T.Ct));
        await using var b = Node(time, store);
        Assert.Equal(7, await b.GetOrSetAsync("price:1", _ => ValueTask.FromResult(8), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_failing_distributed_cache_costs_reads_nothing_but_the_local_compute_and_invalidations_say_so()
    {
        var time = T.Clock();
        var store = new FailingStore(Store());
        await using var a = Node(time, store);
        store.Failing = true;

        Assert.Equal(1, await a.GetOrSetAsync("price:1", _ => ValueTask.FromResult(1), cancellationToken: T.Ct));
        Assert.Equal(SharedTierState.Unavailable, a.SharedTierState);
        var error = await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.InvalidateAsync("price:1", T.Ct));
        Assert.Contains("price:1", error.Message, StringComparison.Ordinal);

        store.Failing = false;
        Assert.Equal(2, await a.GetOrSetAsync("price:2", _ => ValueTask.FromResult(2), cancellationToken: T.Ct));
        Assert.Equal(SharedTierState.Healthy, a.SharedTierState);
    }

    [Fact]
    public async Task Without_a_cache_given_the_containers_is_used_and_without_one_the_build_says_so()
    {
        var error = Assert.Throws<CoherentConfigurationException>(() => new CoherentCacheBuilder().WithDistributedCache().Build());
        Assert.Contains(error.Problems, p => p.Contains("no cache", StringComparison.Ordinal));

        var services = new ServiceCollection();
        services.AddDistributedMemoryCache();
        services.AddCoherentCache(b => b.WithDistributedCache());
        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<CoherentCache>();
        Assert.True(cache.HasSharedTier);
        await cache.SetAsync("price:1", 3, cancellationToken: T.Ct);
        Assert.NotNull(await provider.GetRequiredService<IDistributedCache>().GetAsync("coherent:default:price:1", T.Ct));
    }

    /// <summary>An injected fault: every call throws while <see cref="Failing"/>.</summary>
    private sealed class FailingStore(IDistributedCache inner) : IDistributedCache
    {
        public bool Failing { get; set; }

        private void Check()
        {
            if (Failing)
            {
                throw new TimeoutException("injected: the database does not answer");
            }
        }

        public byte[]? Get(string key) { Check(); return inner.Get(key); }

        public Task<byte[]?> GetAsync(string key, CancellationToken token = default) { Check(); return inner.GetAsync(key, token); }

        public void Refresh(string key) { Check(); inner.Refresh(key); }

        public Task RefreshAsync(string key, CancellationToken token = default) { Check(); return inner.RefreshAsync(key, token); }

        public void Remove(string key) { Check(); inner.Remove(key); }

        public Task RemoveAsync(string key, CancellationToken token = default) { Check(); return inner.RemoveAsync(key, token); }

        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) { Check(); inner.Set(key, value, options); }

        public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default) { Check(); return inner.SetAsync(key, value, options, token); }
    }
}
