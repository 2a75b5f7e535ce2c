using Coherent.Redis.Storage;
using Coherent.Redis.Tests.Infrastructure;
using StackExchange.Redis;

namespace Coherent.Redis.Tests;

/// <summary>L2 store, read-through, write-through, fencing and leases against a real redis-server.</summary>
[Collection(RedisCollection.Name)]
public sealed class SharedTierTests(SharedRedis redis)
{
    private static string Prefix() => KeyPrefix.New("t");

    [Fact]
    public async Task Value_computed_on_one_node_is_an_L2_hit_on_another()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var source = new Source();

        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(1, source.Runs);
        Assert.True(b.HasLocal("item:1"));
    }

    [Fact]
    public async Task WithRedis_from_a_configuration_string_owns_its_connection()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        CoherentCache Build() => new CoherentCacheBuilder()
            .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(1)))
            .WithRedis(server.Endpoint, o => o.KeyPrefix = prefix)
            .Build();
        await using var a = Build();
        await using var b = Build();
        Assert.True(a.HasSharedTier);
        Assert.Equal("a", await a.GetOrSetAsync("item:s", _ => ValueTask.FromResult("a"), cancellationToken: ct));
        Assert.Equal("a", await b.GetOrSetAsync("item:s", _ => ValueTask.FromResult("b"), cancellationToken: ct));

        // Down at build time: Build returns (after the connect timeout at most) and reads run on the factory.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await using var down = new CoherentCacheBuilder().WithRedis($"127.0.0.1:{Ports.Free()}", o => o.ConnectTimeout = TimeSpan.FromMilliseconds(500)).Build();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"Build blocked {watch.Elapsed}");
        Assert.Equal(3, await down.GetOrSetAsync("item:d", _ => ValueTask.FromResult(3), cancellationToken: ct));
    }

    [Fact]
    public async Task All_keys_of_one_cache_key_share_a_hash_slot()
    {
        var keys = new KeySpace("app");
        var key = "product:{odd}key";
        var slots = new[] { keys.Data(key), keys.Epoch(key), keys.Lease(key), keys.Pointer(key), (RedisKey)(keys.VersionBase(key) + "8") }
            .Select(k => HashSlot(k!)).Distinct().ToArray();
        Assert.Single(slots);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task SetAsync_writes_through_and_other_nodes_drop_their_copy()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await b.Cache.GetOrSetAsync("item:2", _ => ValueTask.FromResult("old"), cancellationToken: ct);

        await a.Cache.SetAsync("item:2", "new", cancellationToken: ct);

        await Eventually.TrueAsync(() => !b.HasLocal("item:2"), TimeSpan.FromSeconds(2), "node B never dropped the overwritten key");
        await a.WaitForBusAsync(); // A's own message has come back by now (it precedes A's heartbeat): A ignored it
        Assert.True(a.HasLocal("item:2"));
        Assert.Equal("new", await b.Cache.GetOrSetAsync("item:2", _ => ValueTask.FromResult("factory"), cancellationToken: ct));
    }

    [Fact]
    public async Task Fill_computed_before_an_invalidation_is_never_stored()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        var factoryRead = new TaskCompletionSource();
        var release = new TaskCompletionSource();

        // A reads the source (v1), then is held while B changes the source and invalidates.
        var pending = a.Cache.GetOrSetAsync("item:3", async _ =>
        {
            var v = source.Version;
            factoryRead.SetResult();
            await release.Task;
            return v;
        }, cancellationToken: ct).AsTask();
        await factoryRead.Task.WaitAsync(TimeSpan.FromSeconds(5), ct);
        source.Bump();
        await b.Cache.InvalidateAsync("item:3", ct);
        release.SetResult();
        Assert.Equal(1, await pending); // the caller gets what it computed...

        // ...but it is stored nowhere: neither in A's L1 (after the bus message) nor in L2.
        await Eventually.TrueAsync(() => !a.HasLocal("item:3"), TimeSpan.FromSeconds(2), "stale fill stayed in A's L1");
        Assert.True((await server.ConnectAsync()).GetDatabase().StringGet(a.Tier.Keys.Data("item:3")).IsNull, "stale fill reached L2");
        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal(2, await c.Cache.GetOrSetAsync("item:3", source.ReadAsync, cancellationToken: ct));
    }

    [Fact]
    public async Task Store_with_an_old_epoch_is_fenced_out_by_the_script()
    {
        var server = redis.RequireAny();
        await using var a = await Node.StartAsync(server.Endpoint, Prefix());
        var ct = TestContext.Current.CancellationToken;
        var family = a.Cache.Families.Resolve("item:4");
        var miss = await a.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:4", family.Name), ct);
        Assert.False(miss.Found);
        await a.Tier.InvalidateAsync(new Coherent.SharedTier.SharedTierKey("item:4", family.Name), ct);
        var entry = new SharedTier.SharedTierEntry { Payload = "1"u8.ToArray(), CreatedAtMs = Now(), ExpiresAtMs = Now() + 60_000 };
        Assert.False(await a.Tier.StoreIfEpochAsync(new Coherent.SharedTier.SharedTierKey("item:4", family.Name), entry, miss.Epoch, null, ct));
        Assert.True(await a.Tier.StoreIfEpochAsync(new Coherent.SharedTier.SharedTierKey("item:4", family.Name), entry, miss.Epoch + 1, null, ct));
        Assert.True((await a.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:4", family.Name), ct)).Found);
    }

    [Fact]
    public async Task One_factory_run_for_many_callers_on_many_nodes()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        var nodes = new List<Node>();
        for (var i = 0; i < 4; i++)
        {
            nodes.Add(await Node.StartAsync(server.Endpoint, prefix));
        }

        try
        {
            var ct = TestContext.Current.CancellationToken;
            var runs = 0;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var calls = nodes.SelectMany(n => Enumerable.Range(0, 25).Select(_ => Task.Run(() => n.Cache.GetOrSetAsync("item:herd", async c =>
            {
                Interlocked.Increment(ref runs);
                await Task.Delay(100, c);
                return 42;
            }, cancellationToken: ct).AsTask(), ct))).ToArray();
            var results = await Task.WhenAll(calls);
            watch.Stop();
            Assert.All(results, r => Assert.Equal(42, r));
            Assert.Equal(1, runs);
            TestContext.Current.SendDiagnosticMessage($"herd: 4 nodes x 25 callers, 100 ms factory: {runs} run(s), total {watch.ElapsedMilliseconds} ms");
            Assert.True(watch.ElapsedMilliseconds < 1000, $"waiters were released late: {watch.ElapsedMilliseconds} ms");
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Waiters_on_other_nodes_are_released_within_milliseconds_of_the_fill()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var delays = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            var key = "item:w" + i;
            var started = new TaskCompletionSource();
            var release = new TaskCompletionSource();
            var holder = a.Cache.GetOrSetAsync(key, async _ => { started.SetResult(); await release.Task; return i; }, cancellationToken: ct).AsTask();
            await started.Task.WaitAsync(TimeSpan.FromSeconds(5), ct);
            var waiterDone = 0L;
            var waiter = b.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult(-1), cancellationToken: ct).AsTask()
                .ContinueWith(t => { waiterDone = System.Diagnostics.Stopwatch.GetTimestamp(); return t.Result; }, ct, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            await Task.Delay(20, ct); // B finds the lease taken and waits for the notice
            release.SetResult();
            await holder;
            var holderDone = System.Diagnostics.Stopwatch.GetTimestamp();
            Assert.Equal(i, await waiter.WaitAsync(TimeSpan.FromSeconds(5), ct));
            delays.Add(Math.Max(0, System.Diagnostics.Stopwatch.GetElapsedTime(holderDone, waiterDone).TotalMilliseconds));
        }

        TestContext.Current.SendDiagnosticMessage($"waiter release after the fill (holder returned → other node's waiter returned), n=20: p50 {Percentiles.Of(delays, 50):F2} ms, max {delays.Max():F2} ms");
        Assert.True(Percentiles.Of(delays, 50) < 20, "waiters are not woken by the fill notice");
    }

    [Fact]
    public async Task Waiter_computes_itself_when_the_lease_holder_fails()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var started = new TaskCompletionSource();
        var fail = new TaskCompletionSource();
        var failing = a.Cache.GetOrSetAsync<int>("item:lease", async _ =>
        {
            started.SetResult();
            await fail.Task;
            throw new InvalidOperationException("source down");
        }, cancellationToken: ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(5), ct);
        var waiting = b.Cache.GetOrSetAsync("item:lease", _ => ValueTask.FromResult(7), cancellationToken: ct).AsTask();
        await Task.Delay(50, ct); // let B find the lease taken and start waiting
        Assert.False(waiting.IsCompleted);
        fail.SetResult();
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        Assert.Equal(7, await waiting.WaitAsync(TimeSpan.FromSeconds(2), ct)); // woken by the release notice, not the lease expiry
    }

    [Fact]
    public async Task Early_refresh_recomputes_instead_of_rereading_the_value_it_refreshes()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        void Hot(CoherentCacheBuilder b) => b.Define("hot", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromSeconds(30)).EarlyRefresh(1e6));
        await using var a = await Node.StartAsync(server.Endpoint, prefix, build: Hot);
        await using var b = await Node.StartAsync(server.Endpoint, prefix, build: Hot);
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        async ValueTask<long> Slow(CancellationToken c)
        {
            await Task.Delay(20, c);
            return await source.ReadAsync(c);
        }

        Assert.Equal(1, await a.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: ct));
        Assert.Equal(1, await b.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: ct));
        source.Bump(); // no invalidation: only early refresh can pick this up before the TTL
        await Eventually.TrueAsync(async () => await a.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: ct) == 2 & await b.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: ct) == 2,
            TimeSpan.FromSeconds(5), "early refresh never produced the new value");
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static int HashSlot(string key)
    {
        var open = key.IndexOf('{', StringComparison.Ordinal);
        if (open >= 0)
        {
            var close = key.IndexOf('}', open + 1);
            if (close > open + 1)
            {
                key = key[(open + 1)..close];
            }
        }

        ushort crc = 0;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(key))
        {
            crc ^= (ushort)(b << 8);
            for (var i = 0; i < 8; i++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }
        }

        return crc % 16384;
    }
}
