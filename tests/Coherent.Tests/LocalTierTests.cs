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
            // Written, not read through: a full L1 caches a key read through GetOrSetAsync only on its second miss.
            await cache.SetAsync($"price:{i}", i, cancellationToken: T.Ct);
        }

        // Each write evicts on its own thread before it returns; the wait only tolerates a slow machine.
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

        cache.Diagnostics.MaintainLocal();
        Assert.InRange(cache.LocalCount, 1, capacity);
    }

    /// <summary>
    /// A scan-polluted workload: 20 hot keys, read 20 times each, then a one-off scan of 2,000 cold keys (20× the
    /// capacity of 100) during which the hot keys are still read, once every 100 scan keys. Between two reads of a hot
    /// key, 119 other keys are touched, so a recency-only policy (LRU) has always just evicted it: it serves none of the
    /// hot reads during the scan and keeps none of the hot keys. W-TinyLFU must serve nearly all of them.
    /// Deterministic apart from the process's hash seeds (sketch collisions, the eviction's random sample) and BitFaster's
    /// background maintenance (the reference peer); five trials with different keys, summed, and explicit maintenance every
    /// 50 operations keep both from deciding it.
    /// </summary>
    [Fact]
    public async Task W_TinyLFU_keeps_frequently_read_keys_through_a_scan()
    {
        var coherent = new ScanScore();
        var lfu = new ScanScore();
        var lru = new ScanScore();
        for (var trial = 0; trial < ScanTrials; trial++)
        {
            await using var cache = T.Price(T.Clock()).WithLocalCapacity(ScanCapacity).Build();
            coherent.Add(RunScan(trial, key =>
            {
                var hit = true;
                var read = cache.GetOrSetAsync(key, _ => { hit = false; return T.Value(1); }, cancellationToken: T.Ct);
                Assert.True(read.IsCompletedSuccessfully);
                return hit;
            }, cache.Diagnostics.MaintainLocal, key => cache.Diagnostics.HasLocal(key)));

            var rawLfu = new BitFaster.Caching.Lfu.ConcurrentLfu<string, int>(ScanCapacity);
            lfu.Add(RunScan(trial, key => !Missed(rawLfu.GetOrAdd, key), rawLfu.DoMaintenance, key => rawLfu.TryGet(key, out _)));

            var plainLru = new PlainLru(ScanCapacity);
            lru.Add(RunScan(trial, plainLru.Read, () => { }, plainLru.Contains));
        }

        // The control: the scenario defeats recency (a plain LRU fails every assertion below; BitFaster's ConcurrentLru is
        // not one: its warm queue resists this scan too).
        Assert.True(lru.ScanHitRatio < 0.05 && lru.Resident == 0, $"LRU control: {lru}");

        // W-TinyLFU: hot keys keep being served through the scan and stay resident.
        // (Measured: every hot read served and every hot key kept, by Coherent and by ConcurrentLfu, in every run. With
        // Coherent's hit recording switched off, 83–85 % of the hot reads were served: the assertions below fail.)
        Assert.True(coherent.ScanHitRatio >= 0.95, $"Coherent: {coherent} (BitFaster ConcurrentLfu: {lfu})");
        Assert.True(coherent.Resident >= 0.9 * ScanTrials * ScanHotKeys, $"Coherent: {coherent} (BitFaster ConcurrentLfu: {lfu})");

        // Coherent's selective access recording must not do materially worse than BitFaster's own ConcurrentLfu.
        Assert.True(coherent.ScanHitRatio >= lfu.ScanHitRatio - 0.03, $"Coherent: {coherent}; BitFaster ConcurrentLfu: {lfu}");
    }

    private const int ScanTrials = 5;
    private const int ScanCapacity = 100;
    private const int ScanHotKeys = 20;

    private static bool Missed(Func<string, Func<string, int>, int> getOrAdd, string key)
    {
        var missed = false;
        getOrAdd(key, _ => { missed = true; return 1; });
        return missed;
    }

    /// <summary>Runs the scan scenario once; returns hot reads served during the scan, hot reads made, hot keys resident at the end.</summary>
    private static (int HotHits, int HotReads, int Resident) RunScan(int trial, Func<string, bool> read, Action maintain, Func<string, bool> resident)
    {
        var hot = Enumerable.Range(0, ScanHotKeys).Select(i => $"price:t{trial}-hot{i}").ToList();
        var operations = 0;
        void Read(string key, ref int hits)
        {
            if (read(key))
            {
                hits++;
            }

            if (++operations % 50 == 0)
            {
                maintain();
            }
        }

        var ignored = 0;
        for (var round = 0; round < 20; round++)
        {
            foreach (var k in hot)
            {
                Read(k, ref ignored);
            }
        }

        maintain();
        int hotHits = 0, hotReads = 0;
        for (var i = 0; i < 2_000; i++)
        {
            Read($"price:t{trial}-scan{i}", ref ignored);
            if (i % 100 == 99 && i < 1_900)
            {
                foreach (var k in hot)
                {
                    Read(k, ref hotHits);
                    hotReads++;
                }
            }
        }

        maintain();
        return (hotHits, hotReads, hot.Count(resident));
    }

    /// <summary>A textbook LRU (the control the scan scenario must defeat).</summary>
    private sealed class PlainLru(int capacity)
    {
        private readonly LinkedList<string> _order = new();
        private readonly Dictionary<string, LinkedListNode<string>> _nodes = new();

        public bool Contains(string key) => _nodes.ContainsKey(key);

        public bool Read(string key)
        {
            if (_nodes.TryGetValue(key, out var node))
            {
                _order.Remove(node);
                _order.AddLast(node);
                return true;
            }

            _nodes[key] = _order.AddLast(key);
            if (_order.Count > capacity)
            {
                _nodes.Remove(_order.First!.Value);
                _order.RemoveFirst();
            }

            return false;
        }
    }

    private sealed class ScanScore
    {
        public int HotHits { get; private set; }
        public int HotReads { get; private set; }
        public int Resident { get; private set; }
        public double ScanHitRatio => (double)HotHits / HotReads;

        public void Add((int HotHits, int HotReads, int Resident) run)
        {
            HotHits += run.HotHits;
            HotReads += run.HotReads;
            Resident += run.Resident;
        }

        public override string ToString() => $"{HotHits} of {HotReads} hot reads served during the scan, {Resident} of {ScanTrials * ScanHotKeys} hot keys resident after it";
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
            Assert.True(cache.Diagnostics.LocalWeight <= 1_000, $"weight {cache.Diagnostics.LocalWeight} after {i + 1} sets");
        }

        Assert.InRange(cache.LocalCount, 1, 10);
        Assert.Equal(cache.LocalCount * 100, cache.Diagnostics.LocalWeight);
        await T.Until(() => metrics.Counter("coherent.evictions") == 100 - cache.LocalCount, "weight evictions counted");

        // Overwrites and removals keep the weight exact.
        var resident = cache.Diagnostics.LocalKeys.First();
        await cache.SetAsync(resident, "short", cancellationToken: T.Ct);
        Assert.Equal(((cache.LocalCount - 1) * 100) + 5, cache.Diagnostics.LocalWeight);
        await cache.InvalidateAsync(resident, T.Ct);
        Assert.Equal(cache.LocalCount * 100, cache.Diagnostics.LocalWeight);
        await cache.ClearAsync(T.Ct);
        Assert.Equal(0, cache.Diagnostics.LocalWeight);
    }

    [Fact]
    public async Task A_value_heavier_than_the_limit_is_not_kept()
    {
        await using var cache = T.Price(T.Clock()).WithLocalWeightLimit(100, (_, v) => v is string s ? s.Length : 1).Build();
        await cache.SetAsync("price:small", "x", cancellationToken: T.Ct);
        await cache.SetAsync("price:huge", new string('x', 500), cancellationToken: T.Ct);
        Assert.True(cache.Diagnostics.LocalWeight <= 100);
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
                cache.Diagnostics.MaintainLocal();
            }
        }

        cache.Diagnostics.MaintainLocal();
        await T.Until(() => cache.LocalCount <= 20, $"local count {cache.LocalCount} back within capacity 20");
    }
}

/// <summary>Issue 11, hole 11: a removal racing a write of the same key.</summary>
public sealed class L1StoreRaceTests
{
    /// <summary>
    /// A removal by key could take from the eviction policy the newer entry a racing writer had just put in both the map and
    /// the policy, leaving it in the map untracked (never evicted); or remove an entry from the map before the writer's
    /// policy update, leaving the policy tracking what the map does not hold. The window is a few instructions wide: this
    /// test hammers it and checks the invariant (the fix is reasoned, not shown failing here: see the closing note).
    /// </summary>
    [Fact]
    public async Task Racing_writes_and_removals_of_one_key_leave_every_resident_entry_tracked_by_the_eviction_policy()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var family = cache.Families.Resolve("price:1");
        var store = new Local.L1Store(10_000, 0, null, null);
        var start = new Barrier(4);
        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < 150_000; i++)
            {
                if (w % 2 == 0)
                {
                    store.Set(new Local.CacheEntry("price:1", i, family));
                }
                else
                {
                    store.Remove("price:1");
                }
            }
        }, T.Ct)).ToArray();
        await Task.WhenAll(workers);

        Assert.True(store.CountsMatchTheMap(), $"count {store.Count} and weight {store.Weight} do not match the map's entries");
    }
}
