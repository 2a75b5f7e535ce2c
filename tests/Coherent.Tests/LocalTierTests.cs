namespace Coherent.Tests;

public sealed class LocalTierTests
{
    [Fact]
    public async Task The_local_tier_is_bounded_by_count_and_counts_evictions()
    {
        await using var cache = T.Price(T.Clock()).WithLocalCapacity(50).Build();
        using var metrics = new Metrics(cache.Name);
        for (var i = 0; i < 1_000; i++)
        {
            await cache.GetOrSetAsync($"price:{i}", _ => T.Value(i), cancellationToken: T.Ct);
        }

        // BitFaster evicts in its maintenance, asynchronously.
        await T.Until(() => cache.LocalCount <= 50, "local tier trimmed to capacity");
        await T.Until(() => metrics.Counter("coherent.evictions") >= 950, "evictions counted");
        Assert.InRange(cache.LocalCount, 1, 50);
        Assert.Equal(1_000 - cache.LocalCount, metrics.Counter("coherent.evictions"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Capacities_below_the_LFUs_minimum_are_still_enforced(int capacity)
    {
        await using var cache = T.Price(T.Clock()).WithLocalCapacity(capacity).Build();
        for (var i = 0; i < 10; i++)
        {
            await cache.SetAsync($"price:{i}", i, cancellationToken: T.Ct);
            Assert.True(cache.LocalCount <= capacity, $"{cache.LocalCount} entries with capacity {capacity}");
        }

        cache.Local.DoMaintenance();
        Assert.InRange(cache.LocalCount, 1, capacity);
    }

    [Fact]
    public async Task W_TinyLFU_keeps_frequently_read_keys_through_a_scan()
    {
        await using var cache = T.Price(T.Clock()).WithLocalCapacity(100).Build();
        var hot = Enumerable.Range(0, 20).Select(i => $"price:hot{i}").ToList();
        for (var round = 0; round < 10; round++)
        {
            foreach (var k in hot)
            {
                await cache.GetOrSetAsync(k, _ => T.Value(1), cancellationToken: T.Ct);
            }
        }

        // BitFaster applies recorded accesses in its (asynchronous) maintenance; run it where a real workload's pace would.
        cache.Local.DoMaintenance();

        // A one-off scan of 2,000 cold keys.
        for (var i = 0; i < 2_000; i++)
        {
            await cache.GetOrSetAsync($"price:scan{i}", _ => T.Value(0), cancellationToken: T.Ct);
            if (i % 50 == 0)
            {
                cache.Local.DoMaintenance();
            }
        }

        cache.Local.DoMaintenance();

        await T.Until(() => cache.LocalCount <= 100, "trimmed");
        var hotResident = 0;
        foreach (var k in hot)
        {
            if ((await cache.TryGetAsync<int>(k, T.Ct)).Found)
            {
                hotResident++;
            }
        }

        // The same access sequence on BitFaster's own ConcurrentLfu: Coherent's sampled access recording must not do worse.
        var raw = new BitFaster.Caching.Lfu.ConcurrentLfu<string, int>(100);
        for (var round = 0; round < 10; round++)
        {
            foreach (var k in hot)
            {
                if (!raw.TryGet(k, out _))
                {
                    raw.AddOrUpdate(k, 1);
                }
            }
        }

        raw.DoMaintenance();
        for (var i = 0; i < 2_000; i++)
        {
            raw.AddOrUpdate($"price:scan{i}", 0);
            if (i % 50 == 0)
            {
                raw.DoMaintenance();
            }
        }

        raw.DoMaintenance();
        var rawResident = hot.Count(k => raw.TryGet(k, out _));

        // An LRU would keep none of them.
        Assert.True(hotResident >= 15, $"only {hotResident} of 20 hot keys survived the scan");
        Assert.True(hotResident >= rawResident - 1, $"{hotResident} hot keys kept against {rawResident} for a bare ConcurrentLfu");
    }

    [Fact]
    public async Task The_local_tier_is_bounded_by_weight()
    {
        await using var cache = T.Price(T.Clock())
            .WithLocalWeightLimit(1_000, (_, v) => v is string s ? s.Length : 1)
            .Build();
        using var metrics = new Metrics(cache.Name);
        for (var i = 0; i < 100; i++)
        {
            await cache.SetAsync($"price:{i}", new string('x', 100), cancellationToken: T.Ct);
            Assert.True(cache.Local.Weight <= 1_000, $"weight {cache.Local.Weight} after {i + 1} sets");
        }

        Assert.InRange(cache.LocalCount, 1, 10);
        Assert.Equal(cache.LocalCount * 100, cache.Local.Weight);
        await T.Until(() => metrics.Counter("coherent.evictions") == 100 - cache.LocalCount, "weight evictions counted");

        // Overwrites and removals keep the weight exact.
        var resident = cache.Local.Keys.First();
        await cache.SetAsync(resident, "short", cancellationToken: T.Ct);
        Assert.Equal(((cache.LocalCount - 1) * 100) + 5, cache.Local.Weight);
        await cache.InvalidateAsync(resident, T.Ct);
        Assert.Equal(cache.LocalCount * 100, cache.Local.Weight);
        await cache.ClearAsync(T.Ct);
        Assert.Equal(0, cache.Local.Weight);
    }

    [Fact]
    public async Task A_value_heavier_than_the_limit_is_not_kept()
    {
        await using var cache = T.Price(T.Clock()).WithLocalWeightLimit(100, (_, v) => v is string s ? s.Length : 1).Build();
        await cache.SetAsync("price:small", "x", cancellationToken: T.Ct);
        await cache.SetAsync("price:huge", new string('x', 500), cancellationToken: T.Ct);
        Assert.True(cache.Local.Weight <= 100);
        Assert.False((await cache.TryGetAsync<string>("price:huge", T.Ct)).Found);
    }
}

public sealed class LocalTierConcurrencyTests
{
    [Fact]
    public async Task Concurrent_writes_to_the_same_keys_keep_the_count_bound()
    {
        await using var cache = T.Price(T.Clock()).WithLocalCapacity(20).Build();
        var gate = T.Gate();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            await gate.Task;
            for (var i = 0; i < 20_000; i++)
            {
                await cache.SetAsync($"price:{i % 2}", i);
            }
        }, T.Ct)).ToArray();
        gate.SetResult();
        await T.Soon(Task.WhenAll(writers), 20_000);

        // Then a stream of new keys pushes everything old out; the map must follow the LFU down to its capacity.
        for (var i = 0; i < 2_000; i++)
        {
            await cache.SetAsync($"price:new{i}", i, cancellationToken: T.Ct);
            if (i % 100 == 0)
            {
                cache.Local.DoMaintenance();
            }
        }

        cache.Local.DoMaintenance();
        await T.Until(() => cache.LocalCount <= 20, $"local count {cache.LocalCount} back within capacity 20");
    }
}
