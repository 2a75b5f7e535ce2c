using System.Diagnostics;
using Coherent.Memcached.Store;
using Coherent.Memcached.Tests.Infrastructure;
using static Coherent.Memcached.Tests.Infrastructure.Clients;

namespace Coherent.Memcached.Tests;

/// <summary>Paused, killed and restarted servers: bounded waits, connections kept or dropped as they should be, breakers.</summary>
public sealed class FaultTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(300);

    /// <summary>A call may wait its timeout plus one deadline sweep (a tenth); the rest is scheduling slack on a loaded machine.</summary>
    private static readonly TimeSpan MostOneCallMayTake = Timeout * 1.1 + TimeSpan.FromMilliseconds(400);

    /// <summary>For tests that kill a server (failures are immediate) but open the breaker at the first failure: a live server
    /// must never miss this deadline on a loaded machine, or it would be taken out too.</summary>
    private static readonly TimeSpan SlackTimeout = TimeSpan.FromSeconds(3);

    /// <summary>A store over the servers whose breaker opens at the first failure and that is probed only by hand.</summary>
    private static Task<MemcachedStore> BreakAtFirstFailureStoreAsync(params MemcachedProcess[] servers) =>
        StoreAsync(servers, o =>
        {
            o.OperationTimeout = SlackTimeout;
            o.BreakerFailureThreshold = 1;
            o.ProbeInterval = TimeSpan.FromMinutes(10);
        });

    [Fact]
    public async Task A_paused_server_costs_each_call_one_timeout_and_the_connection_answers_correctly_after_it_resumes()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var connection = await ConnectAsync(server, Timeout);
        await connection.SendAsync(Set(Key("a"), "A"));
        await connection.SendAsync(Set(Key("b"), "B"));

        server.Pause();
        var calls = Enumerable.Range(0, 5).Select(async _ =>
        {
            var watch = Stopwatch.StartNew();
            await Assert.ThrowsAsync<MemcachedTimeoutException>(() => connection.SendAsync(Get(Key("a"))));
            return watch.Elapsed;
        }).ToArray();
        var waits = await Task.WhenAll(calls);
        Assert.All(waits, w => Assert.InRange(w, Timeout, MostOneCallMayTake));
        Assert.Equal(5, connection.Outstanding);
        server.Resume();

        // The five late answers are eaten by their abandoned requests; this call gets its own.
        Assert.Equal("B", Text(await connection.SendAsync(Get(Key("b")))));
        Assert.False(connection.IsBroken);
        Assert.Equal(0, connection.Outstanding);
    }

    [Fact]
    public async Task Consecutive_timeouts_open_the_breaker_then_calls_fail_at_once_until_a_probe_readmits_the_server()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server, o =>
        {
            o.OperationTimeout = Timeout;
            o.BreakerFailureThreshold = 3;
            o.ProbeInterval = TimeSpan.FromMinutes(10); // probed by hand below
        });
        await store.StoreAsync("price:1", Bytes("v"), TimeSpan.FromMinutes(5));
        var node = store.Cluster.Servers[0];

        server.Pause();
        for (var i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            await Assert.ThrowsAsync<MemcachedTimeoutException>(() => store.ReadAsync("price:1", LeaseOptions.None).AsTask());
            Assert.InRange(watch.Elapsed, Timeout, MostOneCallMayTake);
        }

        Assert.True(node.Health.IsDown);
        var fast = Stopwatch.StartNew();
        await Assert.ThrowsAsync<ServerUnavailableException>(() => store.ReadAsync("price:1", LeaseOptions.None).AsTask());
        Assert.True(fast.Elapsed < Timeout, $"an open breaker should fail at once, took {fast.Elapsed}");

        await store.Cluster.ProbeDownServersAsync();
        Assert.True(node.Health.IsDown, "a paused server must not pass its probe");
        server.Resume();
        await store.Cluster.ProbeDownServersAsync();

        Assert.False(node.Health.IsDown);
        // Re-admitted servers are emptied: what they held may have missed invalidations while out.
        Assert.Equal(ReadOutcome.Miss, (await store.ReadAsync("price:1", LeaseOptions.None)).Outcome);
    }

    [Fact]
    public async Task A_killed_server_fails_calls_at_once_and_after_an_empty_restart_a_new_connection_serves_misses()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server, o => o.OperationTimeout = TimeSpan.FromSeconds(5));
        await store.StoreAsync("price:1", Bytes("v"), TimeSpan.FromMinutes(5));

        server.Kill();
        var watch = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAnyAsync<MemcachedException>(() => store.ReadAsync("price:1", LeaseOptions.None).AsTask());
        Assert.IsType<ServerUnavailableException>(failure);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"a reset connection should fail fast, not wait the 5 s timeout: {watch.Elapsed}");

        await server.StartAsync();
        var read = await store.ReadAsync("price:1", LeaseOptions.None);

        Assert.Equal(ReadOutcome.Miss, read.Outcome);
        Assert.Equal(StoreOutcome.Stored, await store.StoreAsync("price:1", Bytes("again"), TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public async Task With_one_of_three_servers_down_its_keys_move_to_the_others_and_come_back_when_it_is_readmitted()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        await using var s3 = await MemcachedProcess.StartForTestAsync();
        await using var store = await BreakAtFirstFailureStoreAsync(s1, s2, s3);
        var keys = Enumerable.Range(0, 300).Select(i => "price:" + i).ToArray();
        foreach (var key in keys)
        {
            await store.StoreAsync(key, Bytes(key), TimeSpan.FromMinutes(5));
        }

        var victim = store.Cluster.Servers[1];
        var victimKeys = keys.Where(k => store.Cluster.Owner(store.DataKey(k)) == victim).ToArray();
        Assert.InRange(victimKeys.Length, 50, 150);

        s2.Kill();
        await Assert.ThrowsAnyAsync<MemcachedException>(() => store.ReadAsync(victimKeys[0], LeaseOptions.None).AsTask());
        Assert.True(victim.Health.IsDown);

        foreach (var key in keys)
        {
            var read = await store.ReadAsync(key, LeaseOptions.None);
            var moved = victimKeys.Contains(key);
            Assert.Equal(moved ? ReadOutcome.Miss : ReadOutcome.Hit, read.Outcome);
            Assert.NotSame(victim, store.Cluster.Route(store.DataKey(key)));
        }

        await store.StoreAsync(victimKeys[0], Bytes("while down"), TimeSpan.FromMinutes(5));
        Assert.Equal("while down", Text((await store.ReadAsync(victimKeys[0], LeaseOptions.None)).Payload));

        await s2.StartAsync();
        await store.Cluster.ProbeDownServersAsync();

        Assert.False(victim.Health.IsDown);
        Assert.All(victimKeys, k => Assert.Same(victim, store.Cluster.Route(store.DataKey(k))));
        Assert.Equal(ReadOutcome.Miss, (await store.ReadAsync(victimKeys[0], LeaseOptions.None)).Outcome);
        await store.StoreAsync(victimKeys[0], Bytes("back"), TimeSpan.FromMinutes(5));
        Assert.Equal("1", await s2.StatAsync("curr_items"));
    }

    [Fact]
    public async Task The_probe_timer_readmits_a_restarted_server_on_its_own()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server, o =>
        {
            o.OperationTimeout = Timeout;
            o.BreakerFailureThreshold = 1;
            o.ProbeInterval = TimeSpan.FromMilliseconds(100);
        });
        var readmitted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.Cluster.Readmitted += _ => readmitted.TrySetResult();

        server.Kill();
        await Assert.ThrowsAnyAsync<MemcachedException>(() => store.ReadAsync("price:1", LeaseOptions.None).AsTask());
        Assert.True(store.Cluster.Servers[0].Health.IsDown);
        Assert.False(readmitted.Task.IsCompleted);
        await server.StartAsync();

        await readmitted.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(store.Cluster.Servers[0].Health.IsDown);
        Assert.Equal(StoreOutcome.Stored, await store.StoreAsync("price:1", Bytes("v"), TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task A_store_built_while_no_server_answers_uses_the_default_item_limit_and_fails_calls_with_a_typed_error()
    {
        MemcachedProcess.RequireInstalled();
        await using var server = await MemcachedProcess.StartForTestAsync();
        var port = server.Port;
        server.Kill();

        await using var store = await MemcachedStore.CreateAsync(new CoherentMemcachedOptions { Servers = $"127.0.0.1:{port}", OperationTimeout = Timeout });

        Assert.Equal(MemcachedStore.DefaultMaxItemBytes, store.MaxItemBytes);
        await Assert.ThrowsAsync<ServerUnavailableException>(() => store.ReadAsync("price:1", LeaseOptions.None).AsTask());
    }

    [Fact]
    public async Task A_version_counter_whose_server_goes_down_comes_back_higher_on_the_next_server()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        await using var s3 = await MemcachedProcess.StartForTestAsync();
        await using var store = await BreakAtFirstFailureStoreAsync(s1, s2, s3);
        var tag = VersionKey.Tag("catalog");
        for (var i = 0; i < 50; i++)
        {
            await store.BumpVersionAsync(tag);
        }

        var before = await store.ReadVersionAsync(tag);
        var owner = store.Cluster.Route(store.VersionWireKey(tag));
        var processes = new[] { s1, s2, s3 };
        processes[store.Cluster.Servers.ToList().IndexOf(owner)].Kill();
        await Assert.ThrowsAnyAsync<MemcachedException>(() => store.ReadVersionAsync(tag).AsTask());
        Assert.True(owner.Health.IsDown);

        var read = await store.ReadWithVersionsAsync("price:1", LeaseOptions.None, [tag, VersionKey.Clear]);

        Assert.True(read.Versions[0] > before, $"{read.Versions[0]} after {before}");
        Assert.NotSame(owner, store.Cluster.Route(store.VersionWireKey(tag)));
    }
}
