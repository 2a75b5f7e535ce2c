using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>Server faults under the cache: kill -9, SIGSTOP, restart empty, one of three down; failed invalidations queued and retried.</summary>
public sealed class TierFaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_killed_server_costs_reads_at_most_a_timeout_and_the_factory_serves()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = McNode.Start(server.Endpoint, KeyPrefix.New("kill"));
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:k", _ => ValueTask.FromResult(1), cancellationToken: Ct));

        server.Kill();

        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(2, await a.Cache.GetOrSetAsync("item:other", _ => ValueTask.FromResult(2), cancellationToken: Ct));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"a read took {watch.Elapsed} with the server dead");
        var failure = await Record.ExceptionAsync(() => a.Cache.InvalidateAsync("item:k", Ct).AsTask());
        Assert.IsType<InvalidationFailedException>(failure); // typed, never a Memcached exception
        Assert.Equal(1, a.Tier.PendingInvalidations);
    }

    [Fact]
    public async Task A_paused_server_never_stalls_a_caller_past_the_operation_timeout()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = McNode.Start(server.Endpoint, KeyPrefix.New("stop"));
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:s", _ => ValueTask.FromResult(1), cancellationToken: Ct));
        server.Pause();
        try
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            Assert.Equal(5, await a.Cache.GetOrSetAsync("item:p", _ => ValueTask.FromResult(5), cancellationToken: Ct));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"a read took {watch.Elapsed} with the server paused");
            await Assert.ThrowsAsync<InvalidationFailedException>(() => a.Cache.InvalidateAsync("item:s", Ct).AsTask());
        }
        finally
        {
            server.Resume();
        }

        // Once it answers again (probed and re-admitted), the queued invalidation lands.
        // (the landing is logged right after the queue entry is removed: wait for both)
        await Eventually.TrueAsync(() => a.Tier.PendingInvalidations == 0 && a.Logs.Count(2008) >= 1, TimeSpan.FromSeconds(10), "the queued invalidation never landed");
    }

    [Fact]
    public async Task A_server_restarted_empty_refuses_fills_fenced_before_the_restart()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = McNode.Start(server.Endpoint, KeyPrefix.New("restart"));
        var key = new SharedTierKey("item:r", "item");
        var miss = await a.Tier.ReadAsync(key, Ct);
        Assert.Equal(SharedTierReadStatus.Miss, miss.Status);

        await server.RestartAsync();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var entry = new SharedTierEntry { Payload = "x"u8.ToArray(), CreatedAtMs = now, ExpiresAtMs = now + 60_000 };
        var stored = true;
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                stored = await a.Tier.StoreIfEpochAsync(key, entry, miss.Epoch, null, Ct);
                return a.Tier.State == SharedTierState.Healthy && !stored;
            }
            catch (CoherentException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(10), "the fill fenced before the restart was stored after it");
        Assert.False(stored);
        Assert.Equal(9, await a.Cache.GetOrSetAsync("item:r", _ => ValueTask.FromResult(9), cancellationToken: Ct));
    }

    [Fact]
    public async Task With_one_of_three_servers_down_its_keys_move_and_the_cache_keeps_serving()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        await using var s3 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint, s3.Endpoint);
        var prefix = KeyPrefix.New("three");
        await using var a = McNode.Start(servers, prefix);
        await using var b = McNode.Start(servers, prefix);
        var keys = Enumerable.Range(0, 60).Select(i => $"item:{i}").ToArray();
        foreach (var key in keys)
        {
            await a.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult(key), cancellationToken: Ct);
        }

        var stored = 0;
        foreach (var key in keys)
        {
            stored += (await a.Store.ReadAsync(key, LeaseOptions.None, Ct)).Payload is { Length: > 0 } ? 1 : 0;
        }

        Assert.Equal(keys.Length, stored);

        // A server that does not hold the clear counter: losing that one voids every entry, by design (see the next test).
        var clearOwner = a.Store.Cluster.Owner(a.Store.VersionWireKey(VersionKey.Clear)).Address.Port;
        var victim = new[] { s1, s2, s3 }.First(s => s.Port != clearOwner);
        victim.Kill();
        var runs = 0;
        foreach (var key in keys)
        {
            Assert.Equal(key, await b.Cache.GetOrSetAsync(key, _ => { Interlocked.Increment(ref runs); return ValueTask.FromResult(key); }, cancellationToken: Ct));
        }

        Assert.InRange(runs, 1, keys.Length - 1); // the dead server's keys were recomputed, the others were L2 hits
        Assert.Equal(SharedTierState.Degraded, b.Tier.State);

        // Recomputed keys are stored on the next server of the ring: a third node reads them from L2.
        await using var c = McNode.Start(servers, prefix);
        var cRuns = 0;
        foreach (var key in keys)
        {
            await c.Cache.GetOrSetAsync(key, _ => { Interlocked.Increment(ref cRuns); return ValueTask.FromResult(key); }, cancellationToken: Ct);
        }

        Assert.True(cRuns < keys.Length / 3, $"{cRuns} of {keys.Length} recomputed on a third node");
    }

    [Fact]
    public async Task Losing_the_server_of_the_clear_counter_voids_every_entry_instead_of_reviving_cleared_ones()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var servers = string.Join(",", s1.Endpoint, s2.Endpoint);
        var prefix = KeyPrefix.New("clearlost");
        await using var a = McNode.Start(servers, prefix);
        var keys = Enumerable.Range(0, 20).Select(i => $"item:{i}").ToArray();
        foreach (var key in keys)
        {
            await a.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult(1), cancellationToken: Ct);
        }

        var clearOwner = a.Store.Cluster.Owner(a.Store.VersionWireKey(VersionKey.Clear)).Address.Port;
        (clearOwner == s1.Port ? s1 : s2).Kill();
        await using var b = McNode.Start(servers, prefix);
        var runs = 0;
        await Eventually.TrueAsync(async () =>
        {
            runs = 0;
            foreach (var key in keys)
            {
                await b.Cache.GetOrSetAsync(key + ":probe", _ => ValueTask.FromResult(0), cancellationToken: Ct); // until the dead server is marked down
            }

            return b.Tier.State == SharedTierState.Degraded;
        }, TimeSpan.FromSeconds(5), "the dead server was never marked down");
        foreach (var key in keys)
        {
            await b.Cache.GetOrSetAsync(key, _ => { Interlocked.Increment(ref runs); return ValueTask.FromResult(2); }, cancellationToken: Ct);
        }

        // The counter is recreated on the surviving server at a higher seed: every entry stamped before is a miss.
        Assert.Equal(keys.Length, runs);
    }

    [Fact]
    public async Task A_failed_tag_invalidation_is_retried_until_it_lands()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("retry");
        await using var a = McNode.Start(server.Endpoint, prefix);
        var tagged = new CacheEntryOptions { Tags = ["t"] };
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:q", _ => ValueTask.FromResult(1), tagged, Ct));
        var before = await a.Store.ReadVersionAsync(VersionKey.Tag("t"), Ct);
        server.Pause();
        try
        {
            await Assert.ThrowsAsync<InvalidationFailedException>(() => a.Cache.InvalidateTagAsync("t", Ct).AsTask());
            Assert.Equal(1, a.Tier.PendingInvalidations);
        }
        finally
        {
            server.Resume();
        }

        await Eventually.TrueAsync(() => a.Tier.PendingInvalidations == 0, TimeSpan.FromSeconds(10), "the tag invalidation never landed");
        Assert.True(await a.Store.ReadVersionAsync(VersionKey.Tag("t"), Ct) > before);
    }
}
