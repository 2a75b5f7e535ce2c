using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>The Memcached tier through the public cache API, against a real memcached: L2 hits, write-through, fencing, leases, tags and clear.</summary>
public sealed class TierTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Prefix() => KeyPrefix.New("mt");

    [Fact]
    public async Task A_value_computed_on_one_node_is_an_L2_hit_on_another()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix);
        await using var b = McNode.Start(server.Endpoint, prefix);
        var source = new Source();

        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: Ct));
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: Ct));
        Assert.Equal(1, source.Runs);
        Assert.True(b.HasLocal("item:1"));
        Assert.Equal(SharedTierGuarantees.FencedStores | SharedTierGuarantees.FleetLeases, a.Tier.Guarantees);
        Assert.Equal(SharedTierState.Healthy, a.Tier.State);
    }

    [Fact]
    public async Task The_policy_report_says_L1_copies_live_at_most_their_max_staleness()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = McNode.Start(server.Endpoint, Prefix());
        Assert.Contains(a.Cache.DescribePolicies().Notes, n => n.Contains("No invalidation bus", StringComparison.Ordinal));
        Assert.Equal(1, a.Logs.Count(4001));
    }

    [Fact]
    public async Task SetAsync_writes_through_and_other_nodes_read_the_new_value_within_max_staleness()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix);
        await using var b = McNode.Start(server.Endpoint, prefix);
        await b.Cache.GetOrSetAsync("item:2", _ => ValueTask.FromResult("old"), cancellationToken: Ct);

        await a.Cache.SetAsync("item:2", "new", cancellationToken: Ct);

        // No bus: B's L1 copy is served at most MaxStaleness, then B reads L2, which holds the new value.
        await Eventually.TrueAsync(async () => await b.Cache.GetOrSetAsync("item:2", _ => ValueTask.FromResult("factory"), cancellationToken: Ct) == "new",
            McNode.MaxStaleness + TimeSpan.FromSeconds(1), "node B kept the overwritten value past its max-staleness");
    }

    [Fact]
    public async Task A_fill_computed_before_an_invalidation_is_never_stored()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix);
        await using var b = McNode.Start(server.Endpoint, prefix);
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
        }, cancellationToken: Ct).AsTask();
        await factoryRead.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        source.Bump();
        await b.Cache.InvalidateAsync("item:3", Ct);
        release.SetResult();
        Assert.Equal(1, await pending); // the caller gets what it computed...

        // ...but it is stored nowhere in L2: a third node computes the new value.
        var read = await a.Store.ReadAsync("item:3", LeaseOptions.None, Ct);
        Assert.Null(read.Payload);
        await using var c = McNode.Start(server.Endpoint, prefix);
        Assert.Equal(2, await c.Cache.GetOrSetAsync("item:3", source.ReadAsync, cancellationToken: Ct));
    }

    [Fact]
    public async Task A_fill_started_before_a_write_through_is_not_stored_over_it()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix);
        await using var b = McNode.Start(server.Endpoint, prefix);
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var pending = a.Cache.GetOrSetAsync("item:w", async _ => { started.SetResult(); await release.Task; return "computed-before"; }, cancellationToken: Ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);

        await b.Cache.SetAsync("item:w", "written", cancellationToken: Ct);
        release.SetResult();
        await pending;

        await using var c = McNode.Start(server.Endpoint, prefix);
        Assert.Equal("written", await c.Cache.GetOrSetAsync("item:w", _ => ValueTask.FromResult("factory"), cancellationToken: Ct));
    }

    [Fact]
    public async Task A_store_with_an_old_epoch_is_fenced_out_by_the_CAS()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = McNode.Start(server.Endpoint, Prefix());
        var key = new SharedTierKey("item:4", "item");
        var miss = await a.Tier.ReadAsync(key, Ct);
        Assert.Equal(SharedTierReadStatus.Miss, miss.Status);
        await a.Tier.InvalidateAsync(key, Ct);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var entry = new SharedTierEntry { Payload = "1"u8.ToArray(), CreatedAtMs = now, ExpiresAtMs = now + 60_000 };

        Assert.False(await a.Tier.StoreIfEpochAsync(key, entry, miss.Epoch, null, Ct));
        var again = await a.Tier.ReadAsync(key, Ct);
        Assert.True(again.Epoch != miss.Epoch, "the invalidation did not move the epoch");
        Assert.True(await a.Tier.StoreIfEpochAsync(key, entry, again.Epoch, null, Ct));
        Assert.False(await a.Tier.StoreIfEpochAsync(key, entry, again.Epoch, null, Ct)); // the store itself moved it
        Assert.True((await a.Tier.ReadAsync(key, Ct)).Found);
    }

    [Fact]
    public async Task An_epoch_read_from_another_server_never_fences_a_store_even_when_the_CAS_matches()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        await using var a = McNode.Start($"{s1.Endpoint},{s2.Endpoint}", Prefix());
        var key = new SharedTierKey("item:e", "item");
        var miss = await a.Tier.ReadAsync(key, Ct);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var entry = new SharedTierEntry { Payload = "1"u8.ToArray(), CreatedAtMs = now, ExpiresAtMs = now + 60_000 };

        // The same CAS, said to come from the other server (as after a failover, where counters are unrelated).
        const int serverShift = 52;
        var server = (ulong)miss.Epoch >> serverShift;
        var forged = (long)(((ulong)miss.Epoch & ((1UL << serverShift) - 1)) | ((server == 1 ? 2UL : 1UL) << serverShift));
        Assert.False(await a.Tier.StoreIfEpochAsync(key, entry, forged, null, Ct));
        Assert.True(await a.Tier.StoreIfEpochAsync(key, entry, miss.Epoch, null, Ct));
    }

    [Fact]
    public async Task One_factory_run_for_many_callers_on_many_nodes()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        var nodes = Enumerable.Range(0, 4).Select(_ => McNode.Start(server.Endpoint, prefix)).ToList();
        try
        {
            var runs = 0;
            var gate = new TaskCompletionSource();
            var calls = nodes.SelectMany(n => Enumerable.Range(0, 25).Select(_ => Task.Run(async () =>
            {
                await gate.Task;
                return await n.Cache.GetOrSetAsync("item:herd", async c =>
                {
                    Interlocked.Increment(ref runs);
                    await Task.Delay(100, c);
                    return 42;
                }, cancellationToken: Ct);
            }, Ct))).ToArray();
            gate.SetResult();
            var results = await Task.WhenAll(calls);
            Assert.All(results, r => Assert.Equal(42, r));
            Assert.Equal(1, runs);
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
    public async Task A_waiter_computes_itself_when_the_lease_holder_fails()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix);
        await using var b = McNode.Start(server.Endpoint, prefix);
        var started = new TaskCompletionSource();
        var fail = new TaskCompletionSource();
        var failing = a.Cache.GetOrSetAsync<int>("item:lease", async _ =>
        {
            started.SetResult();
            await fail.Task;
            throw new InvalidOperationException("source down");
        }, cancellationToken: Ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        var bRuns = 0;
        var waiting = b.Cache.GetOrSetAsync("item:lease", _ => { Interlocked.Increment(ref bRuns); return ValueTask.FromResult(7); }, cancellationToken: Ct).AsTask();
        await Eventually.TrueAsync(async () => (await b.Store.ReadAsync("item:lease", LeaseOptions.None, Ct)).Outcome == ReadOutcome.HeldByOther, TimeSpan.FromSeconds(2), "no placeholder");
        Assert.Equal(0, bRuns); // B waits for A's lease
        fail.SetResult();
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        Assert.Equal(7, await waiting.WaitAsync(TimeSpan.FromSeconds(2), Ct)); // the release deleted the placeholder: not the lease expiry
        Assert.Equal(1, bRuns);
    }

    [Fact]
    public async Task A_tag_invalidation_on_one_node_makes_its_entries_a_miss_on_every_node()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix);
        await using var b = McNode.Start(server.Endpoint, prefix);
        var tagged = new CacheEntryOptions { Tags = ["red"] };
        var source = new Source();
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:t1", source.ReadAsync, tagged, Ct));
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:t2", source.ReadAsync, new CacheEntryOptions { Tags = ["blue"] }, Ct));
        source.Bump();

        await b.Cache.InvalidateTagAsync("red", Ct);

        await using var c = McNode.Start(server.Endpoint, prefix);
        Assert.Equal(2, await c.Cache.GetOrSetAsync("item:t1", source.ReadAsync, tagged, Ct)); // stamped before the bump: a miss
        Assert.Equal(1, await c.Cache.GetOrSetAsync("item:t2", source.ReadAsync, new CacheEntryOptions { Tags = ["blue"] }, Ct)); // another tag: a hit
        await Eventually.TrueAsync(async () => await a.Cache.GetOrSetAsync("item:t1", source.ReadAsync, tagged, Ct) == 2,
            McNode.MaxStaleness + TimeSpan.FromSeconds(1), "node A served the tagged entry past its max-staleness");
    }

    [Fact]
    public async Task A_clear_on_one_node_makes_every_entry_a_miss_on_a_new_node()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix);
        var source = new Source();
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:c", source.ReadAsync, cancellationToken: Ct));
        source.Bump();

        await a.Cache.ClearAsync(Ct);

        await using var b = McNode.Start(server.Endpoint, prefix);
        Assert.Equal(2, await b.Cache.GetOrSetAsync("item:c", source.ReadAsync, cancellationToken: Ct));
    }

    [Fact]
    public async Task A_fill_whose_tag_was_invalidated_while_it_computed_is_a_miss_when_read()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = McNode.Start(server.Endpoint, prefix);
        await using var b = McNode.Start(server.Endpoint, prefix);
        var tagged = new CacheEntryOptions { Tags = ["green"] };
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var pending = a.Cache.GetOrSetAsync("item:g", async _ => { started.SetResult(); await release.Task; return "before"; }, tagged, Ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        await b.Cache.InvalidateTagAsync("green", Ct);
        release.SetResult();
        await pending;

        await using var c = McNode.Start(server.Endpoint, prefix);
        Assert.Equal("after", await c.Cache.GetOrSetAsync("item:g", _ => ValueTask.FromResult("after"), tagged, Ct));
    }

    [Fact]
    public async Task A_fail_safe_family_serves_its_stale_value_at_once_while_another_node_recomputes()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        void Fast(CoherentCacheBuilder b) => b.Define("fast", p => p.MaxStaleness(TimeSpan.FromSeconds(10)).Ttl(TimeSpan.FromMilliseconds(300)).NoEarlyRefresh()
            .FailSafe(TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(200)));
        await using var a = McNode.Start(server.Endpoint, prefix, build: Fast);
        await using var b = McNode.Start(server.Endpoint, prefix, build: Fast);
        Assert.Equal("v1", await b.Cache.GetOrSetAsync("fast:1", _ => ValueTask.FromResult("v1"), cancellationToken: Ct));
        await Task.Delay(400, Ct); // past the Ttl (not a synchronisation: the value must be expired everywhere)
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var holder = a.Cache.GetOrSetAsync("fast:1", async _ => { started.SetResult(); await release.Task; return "v2"; }, cancellationToken: Ct).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);

        // A holds the fleet lease; B's copy is expired but within fail-safe: served at once, B neither waits nor computes.
        var served = await b.Cache.GetOrSetAsync("fast:1", _ => ValueTask.FromResult("b-computed"), cancellationToken: Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        release.SetResult();
        Assert.Equal("v2", await holder);
        Assert.Equal("v1", served);
    }

    [Fact]
    public async Task A_tag_invalidation_seen_in_L2_voids_the_local_copy_a_failing_fail_safe_factory_would_serve()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        void Safe(CoherentCacheBuilder b) => b.Define("safe", p => p.MaxStaleness(TimeSpan.FromMilliseconds(200)).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh()
            .FailSafe(TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(100)));
        await using var a = McNode.Start(server.Endpoint, prefix, build: Safe);
        await using var b = McNode.Start(server.Endpoint, prefix, build: Safe);
        var tagged = new CacheEntryOptions { Tags = ["orange"] };
        Assert.Equal("v1", await b.Cache.GetOrSetAsync("safe:1", _ => ValueTask.FromResult("v1"), tagged, Ct));

        await a.Cache.InvalidateTagAsync("orange", Ct);
        await Task.Delay(300, Ct); // past B's max-staleness: B reads L2 again, which shows the tag's new version

        // No bus told B; the read did. Its copy was invalidated, so fail-safe must not serve it.
        await Assert.ThrowsAsync<InvalidOperationException>(() => b.Cache.GetOrSetAsync<string>("safe:1", _ => throw new InvalidOperationException("source down"), tagged, Ct).AsTask());
    }

    [Fact]
    public async Task Early_refresh_recomputes_on_one_node_while_the_value_stays_an_L2_hit()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = Prefix();
        void Hot(CoherentCacheBuilder b) => b.Define("hot", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromSeconds(30)).EarlyRefresh(1e6));
        await using var a = McNode.Start(server.Endpoint, prefix, build: Hot);
        await using var b = McNode.Start(server.Endpoint, prefix, build: Hot);
        var source = new Source();
        async ValueTask<long> Slow(CancellationToken c)
        {
            await Task.Delay(20, c);
            return await source.ReadAsync(c);
        }

        Assert.Equal(1, await a.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: Ct));
        Assert.Equal(1, await b.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: Ct));
        source.Bump(); // no invalidation: only early refresh can pick this up before the TTL
        await Eventually.TrueAsync(async () => await a.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: Ct) == 2 & await b.Cache.GetOrSetAsync("hot:1", Slow, cancellationToken: Ct) == 2,
            TimeSpan.FromSeconds(5), "early refresh never produced the new value");
    }

    [Fact]
    public async Task A_refresh_lease_given_back_keeps_the_value_and_lets_the_next_refresh_win()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = McNode.Start(server.Endpoint, Prefix());
        var key = new SharedTierKey("item:r", "item");
        Assert.Equal("v", await a.Cache.GetOrSetAsync("item:r", _ => ValueTask.FromResult("v"), cancellationToken: Ct));
        Assert.True((await a.Tier.ReadAsync(key, Ct)).Found); // as an early refresh reads before it asks for the lease

        var lease = await a.Tier.TryAcquireLeaseAsync("item:r", TimeSpan.FromSeconds(1), Ct);
        Assert.NotNull(lease);
        Assert.Null(await a.Tier.TryAcquireLeaseAsync("item:r", TimeSpan.FromSeconds(1), Ct)); // one refresher in the fleet
        Assert.True((await a.Tier.ReadAsync(key, Ct)).Found); // the value stays a hit meanwhile

        await a.Tier.ReleaseLeaseAsync(lease, Ct);
        Assert.True((await a.Tier.ReadAsync(key, Ct)).Found);
        Assert.NotNull(await a.Tier.TryAcquireLeaseAsync("item:r", TimeSpan.FromSeconds(1), Ct));
    }
}
