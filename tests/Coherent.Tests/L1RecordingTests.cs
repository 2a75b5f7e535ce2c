using Coherent.Local;

namespace Coherent.Tests;

/// <summary>What the L1 tells its W-TinyLFU policy: which hits are recorded, and that misses are reported.</summary>
public sealed class L1RecordingTests
{
    private static ValueTask<int> Hit(CoherentCache cache, string key) => cache.GetOrSetAsync(key, 0, static (_, _) => T.Value(-1));

    [Fact]
    public async Task Every_hit_is_recorded_up_to_16_per_epoch_and_an_epoch_is_a_capacity_of_writes()
    {
        await using var cache = T.Price(T.Clock()).WithLocalCapacity(100).Build();
        await cache.SetAsync("price:resident", 7, cancellationToken: T.Ct);

        // 40 hits: the first 16 are recorded; of the next 24, none falls on the 1-in-1,024 sample (the family's counter
        // starts at zero in a new cache).
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(7, await Hit(cache, "price:resident"));
        }

        Assert.Equal(L1Store.FullyRecordedHits, cache.Diagnostics.LocalPolicyCounts.Hits);

        // A capacity's worth of writes (100, counting the first) opens a new epoch: the resident key's next 16 hits are
        // recorded again, so it keeps its frequency against the newcomers (each of which the sketch counted in full).
        for (var i = 1; i < 100; i++)
        {
            await cache.SetAsync($"price:new{i}", i, cancellationToken: T.Ct);
        }

        var before = cache.Diagnostics.LocalPolicyCounts.Hits;
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(7, await Hit(cache, "price:resident"));
        }

        Assert.Equal(L1Store.FullyRecordedHits, cache.Diagnostics.LocalPolicyCounts.Hits - before);
    }

    [Fact]
    public async Task Misses_are_reported_to_the_LFU_and_hits_are_not_reported_twice()
    {
        await using var cache = T.Price(T.Clock()).WithLocalCapacity(100).Build();
        await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct);   // miss
        Assert.False((await cache.TryGetAsync<int>("price:2", T.Ct)).Found);              // miss
        Assert.True((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);               // hit
        await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct);   // hit

        var (hits, misses) = cache.Diagnostics.LocalPolicyCounts;
        Assert.Equal(2, misses);
        Assert.Equal(2, hits);
    }

    [Fact]
    public async Task Hits_off_the_exact_type_fast_path_are_served_and_counted()
    {
        await using var cache = T.Price(T.Clock()).Build();
        using var metrics = new Metrics(cache.Name);
        await cache.SetAsync("price:text", "abc", cancellationToken: T.Ct);
        await cache.SetAsync<string?>("price:null", null, cancellationToken: T.Ct);
        await cache.SetAsync("price:number", 42, cancellationToken: T.Ct);
        await cache.SetAsync<List<int>>("price:list", [1, 2], cancellationToken: T.Ct);

        // Exact type (fast path), a base type and an interface (warm path), null, a value type and a nullable value type.
        Assert.Equal("abc", await cache.GetOrSetAsync("price:text", 0, static (_, _) => ValueTask.FromResult("miss"), cancellationToken: T.Ct));
        Assert.Equal("abc", await cache.GetOrSetAsync<int, object>("price:text", 0, static (_, _) => ValueTask.FromResult<object>("miss"), cancellationToken: T.Ct));
        Assert.Equal([1, 2], await cache.GetOrSetAsync<int, IReadOnlyList<int>>("price:list", 0, static (_, _) => ValueTask.FromResult<IReadOnlyList<int>>([]), cancellationToken: T.Ct));
        Assert.Null(await cache.GetOrSetAsync<int, string?>("price:null", 0, static (_, _) => ValueTask.FromResult<string?>("miss"), cancellationToken: T.Ct));
        Assert.Equal(42, await cache.GetOrSetAsync("price:number", 0, static (_, _) => ValueTask.FromResult(-1), cancellationToken: T.Ct));
        Assert.Equal(42, await cache.GetOrSetAsync<int, int?>("price:number", 0, static (_, _) => ValueTask.FromResult<int?>(-1), cancellationToken: T.Ct));

        Assert.Equal(6, metrics.Counter("coherent.requests", "price", "l1_hit"));
        Assert.Equal(0, metrics.Counter("coherent.requests", "price", "computed"));
    }
}
