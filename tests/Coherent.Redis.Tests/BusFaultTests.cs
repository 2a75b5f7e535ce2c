using System.Diagnostics;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

/// <summary>
/// Guarantees 1, 2, 5 and 6 of DESIGN.md against real faults: each test changes the source, invalidates, breaks the bus
/// or the server, and measures the worst staleness another node served against the family's MaxStaleness (1 s here).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class BusFaultTests(SharedRedis redis)
{
    private static readonly double Bound = Node.MaxStaleness.TotalMilliseconds;

    /// <summary>
    /// Measurement slack: a read's staleness is taken when the probe's call has returned, and on a loaded 2-core machine
    /// the probe's thread can be descheduled between the serve and that timestamp. (The cache itself judges a value near
    /// its bound by the exact clock, so the coarse hit clock lagging does not add to the staleness: StalenessBoundTests.)
    /// </summary>
    private const double ClockSlack = 50;

    private static string Prefix() => KeyPrefix.New("b");

    private static void Report(string what, StalenessProbe.Result result) =>
        TestContext.Current.SendDiagnosticMessage($"{what}: worst staleness {result.WorstStaleMs:F0} ms (bound {Bound} ms), {result.Reads} reads, {result.Errors} errors");

    [Fact]
    public async Task Healthy_bus_propagates_invalidations_within_milliseconds()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var lags = new List<double>();
        var recorded = new System.Collections.Concurrent.ConcurrentBag<double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Coherent" && instrument.Name == "coherent.invalidation.lag")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "coherent.family" && (string?)tag.Value == "item")
                {
                    recorded.Add(value);
                }
            }
        });
        listener.Start();
        for (var i = 0; i < 200; i++)
        {
            var key = "item:p" + i;
            await b.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult(i), cancellationToken: ct);
            Assert.True(b.HasLocal(key));
            var watch = Stopwatch.StartNew();
            await a.Cache.InvalidateAsync(key, ct);
            var spin = new SpinWait();
            while (b.HasLocal(key) && watch.ElapsedMilliseconds < 2000)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }

            lags.Add(watch.Elapsed.TotalMilliseconds);
        }

        var p50 = Percentiles.Of(lags, 50);
        var p99 = Percentiles.Of(lags, 99);
        // The targets (p50 <= 0.5 ms, p99 <= 5 ms on loopback) are speed figures: reported here, judged by the benchmark
        // (bench PropagationRun, on a quiet machine). What this test asserts is the guarantee's shape: every invalidation
        // arrives, and the bulk of them within a tenth of MaxStaleness, so the bus (not the heartbeat fallback) did it.
        var targetMet = p50 <= 0.5 && p99 <= 5 ? "met" : "not met on this run";
        TestContext.Current.SendDiagnosticMessage($"propagation (invalidate call to other node's L1 drop), n=200: p50 {p50:F2} ms, p99 {p99:F2} ms, max {lags.Max():F2} ms (target p50 0.5 ms / p99 5 ms: {targetMet})");
        Assert.True(lags.Max() < 2000, "an invalidation never arrived");
        Assert.True(p99 < Node.MaxStaleness.TotalMilliseconds / 10, $"p99 {p99:F2} ms: not the bus's propagation but the staleness fallback");
        Assert.True(recorded.Count >= 200, $"invalidation lag histogram got {recorded.Count} measurements");
    }

    [Fact]
    public async Task Dropped_message_is_detected_by_sequence_gap_and_staleness_stays_bounded()
    {
        var server = redis.RequireAny();
        var (result, dropped, gaps) = await StalenessProbe.DroppedMessageAsync(server.Endpoint, Prefix(), TimeSpan.FromMilliseconds(Bound + 500), TestContext.Current.CancellationToken);

        Report("dropped message", result);
        Assert.True(dropped, "the hook did not drop the invalidation");
        Assert.True(gaps >= 1, "the gap was not detected");
        Assert.True(result.Converged);
        Assert.True(result.WorstStaleMs <= Bound, $"served stale {result.WorstStaleMs} ms after the invalidation");
    }

    [Fact]
    public async Task Killed_subscription_connection_keeps_staleness_within_bound()
    {
        await using var server = await StartOwnAsync();
        var prefix = Prefix();
        var attempt = 0;
        var received = 0;
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix, o => o.DropIncomingMessage = m =>
        {
            if (m.StartsWith("I|", StringComparison.Ordinal) && m.EndsWith($"|item:k{Volatile.Read(ref attempt)}", StringComparison.Ordinal))
            {
                Interlocked.Exchange(ref received, 1); // observed, not dropped
            }

            return false;
        });
        var ct = TestContext.Current.CancellationToken;
        await using var admin = await server.ConnectAsync(allowAdmin: true);
        var adminServer = admin.GetServer(server.Endpoint);
        await adminServer.PingAsync();

        // The kill lands first and the invalidation goes out at once; B's client often resubscribes in between (then the
        // message reaches it and the attempt proves nothing), so the scenario is repeated until B lost the message.
        const int MaxAttempts = 12;
        StalenessProbe.Result? result = null;
        for (var i = 1; i <= MaxAttempts && result is null; i++)
        {
            Volatile.Write(ref attempt, i);
            Volatile.Write(ref received, 0);
            var key = $"item:k{i}";
            var source = new Source();
            Assert.Equal(1, await b.Cache.GetOrSetAsync(key, source.ReadAsync, cancellationToken: ct));
            var recoveries = b.Tier.Bus!.Recoveries;
            var v = source.Bump();
            var since = Stopwatch.StartNew();
            await adminServer.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
            await a.Cache.InvalidateAsync(key, ct);
            var probe = await StalenessProbe.RunAsync(b, key, source, v, since, TimeSpan.FromMilliseconds(Bound + 500));
            if (Volatile.Read(ref received) == 0)
            {
                result = probe;
            }

            await Eventually.TrueAsync(() => b.Tier.Bus!.Recoveries > recoveries && !b.Tier.Bus.Suspect, TimeSpan.FromSeconds(5), "bus never recovered");
        }

        Assert.True(result is not null, $"the invalidation reached B in all {MaxAttempts} attempts: the kill never cut it off, so this run proves nothing");
        Report($"CLIENT KILL TYPE pubsub (attempt {Volatile.Read(ref attempt)})", result);
        Assert.True(result.Converged);
        Assert.Equal(0, result.Errors);
        Assert.True(result.WorstStaleMs <= Bound, $"served stale {result.WorstStaleMs} ms after the invalidation");
    }

    [Fact]
    public async Task Paused_server_bounds_staleness_and_the_failed_invalidation_lands_after()
    {
        await using var server = await StartOwnAsync();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:s", source.ReadAsync, cancellationToken: ct));
        await a.Cache.SetAsync("item:kept", 7L, cancellationToken: ct);

        server.Pause();
        try
        {
            var v = source.Bump();
            var since = Stopwatch.StartNew();
            await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("item:s", ct));
            Assert.Equal(1, a.Cache.PendingInvalidations);
            var result = await StalenessProbe.RunAsync(b, "item:s", source, v, since, TimeSpan.FromMilliseconds(Bound + 1000));

            Report("SIGSTOP of redis-server", result);
            Assert.True(result.Converged);
            Assert.Equal(0, result.Errors);
            Assert.True(result.WorstStaleMs <= Bound + ClockSlack, $"served stale {result.WorstStaleMs} ms after the invalidation");
        }
        finally
        {
            server.Resume();
        }

        await Eventually.TrueAsync(() => a.Cache.PendingInvalidations == 0, TimeSpan.FromSeconds(10), "queued invalidation never landed");
        await Eventually.TrueAsync(() => !b.Tier.Bus!.Suspect && !b.Tier.Breaker.IsOpen, TimeSpan.FromSeconds(10), "B never recovered");
        Assert.True(b.Logs.Count(2001) <= 2, $"breaker logged {b.Logs.Count(2001)} open lines");

        // Nothing L2 had is lost: a fresh node reads the value written before the pause without running its factory.
        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal(7, await c.Cache.GetOrSetAsync("item:kept", _ => ValueTask.FromResult(-1L), cancellationToken: ct));
    }

    [Fact]
    public async Task Killed_and_restarted_server_keeps_reads_working_and_recovers()
    {
        await using var server = await StartOwnAsync();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:r", source.ReadAsync, cancellationToken: ct));

        server.Kill();
        var v = source.Bump();
        var since = Stopwatch.StartNew();
        var thrown = await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("item:r", ct));
        Assert.Contains("retried", thrown.Message, StringComparison.Ordinal);
        var result = await StalenessProbe.RunAsync(b, "item:r", source, v, since, TimeSpan.FromMilliseconds(Bound + 1000));
        Report("kill -9 of redis-server", result);
        Assert.True(result.Converged);
        Assert.Equal(0, result.Errors);
        Assert.True(result.WorstStaleMs <= Bound + ClockSlack, $"served stale {result.WorstStaleMs} ms after the invalidation");

        // Many reads while down: no exception storm, one log line per breaker state change.
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(v, await b.Cache.GetOrSetAsync("item:down" + (i % 10), source.ReadAsync, cancellationToken: ct));
        }

        Assert.True(b.Tier.Breaker.IsOpen);
        Assert.Equal(1, b.Logs.Count(2001));
        Assert.Equal(0, b.Logs.Count(1008)); // no per-read "shared read failed" lines

        await server.StartAsync();
        await Eventually.TrueAsync(() => a.Cache.PendingInvalidations == 0, TimeSpan.FromSeconds(15), "queued invalidation never landed");
        await Eventually.TrueAsync(() => !b.Tier.Breaker.IsOpen && !b.Tier.Bus!.Suspect, TimeSpan.FromSeconds(15), "B never recovered");
        Assert.Equal(1, b.Logs.Count(2002));

        // After recovery the epoch was bumped by the queued invalidation and the fleet works again.
        var db = (await server.ConnectAsync()).GetDatabase();
        Assert.True((long)db.StringGet(a.Tier.Keys.Epoch("item:r")) > 0, "the queued invalidation left no epoch");
        await a.Cache.SetAsync("item:r", 99L, cancellationToken: ct);
        await Eventually.TrueAsync(async () => await b.Cache.GetOrSetAsync("item:r", source.ReadAsync, cancellationToken: ct) == 99, TimeSpan.FromSeconds(5), "write after recovery never propagated");
    }

    [Fact]
    public async Task Half_open_connections_keep_staleness_within_bound_and_recover()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var proxy = new PartitionProxy(server.Endpoint);
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(proxy.Endpoint, prefix); // every byte of B's goes through the proxy
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:h", source.ReadAsync, cancellationToken: ct));

        proxy.Partition();
        var v = source.Bump();
        var since = Stopwatch.StartNew();
        await a.Cache.InvalidateAsync("item:h", ct); // lands in Redis; B never hears of it
        var result = await StalenessProbe.RunAsync(b, "item:h", source, v, since, TimeSpan.FromMilliseconds(Bound + 1000));
        Report("half-open connections (black hole)", result);
        Assert.True(result.Converged);
        Assert.Equal(0, result.Errors);
        Assert.True(result.WorstStaleMs <= Bound + ClockSlack, $"served stale {result.WorstStaleMs} ms after the invalidation");

        proxy.Heal();
        await Eventually.TrueAsync(() => !b.Tier.Bus!.Suspect && !b.Tier.Breaker.IsOpen, TimeSpan.FromSeconds(15), "B never recovered after the partition healed");
        await a.Cache.SetAsync("item:h", 50L, cancellationToken: ct);
        await Eventually.TrueAsync(async () => await b.Cache.GetOrSetAsync("item:h", source.ReadAsync, cancellationToken: ct) == 50, TimeSpan.FromSeconds(5), "B did not see writes after healing");
    }

    [Fact]
    public async Task Node_built_while_redis_is_down_serves_from_its_factory()
    {
        var port = Ports.Free();
        await using var node = await Node.StartAsync($"127.0.0.1:{port}", Prefix(), waitForBus: false);
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(i, await node.Cache.GetOrSetAsync("item:x" + i, _ => ValueTask.FromResult(i), cancellationToken: ct));
        }

        await Assert.ThrowsAsync<InvalidationFailedException>(async () => await node.Cache.InvalidateAsync("item:x1", ct));
        await Assert.ThrowsAsync<InvalidationFailedException>(async () => await node.Cache.SetAsync("item:x2", 5, cancellationToken: ct));
        await Assert.ThrowsAsync<InvalidationFailedException>(async () => await node.Cache.InvalidateTagAsync("t", ct));
        await Assert.ThrowsAsync<InvalidationFailedException>(async () => await node.Cache.ClearAsync(ct));
        Assert.Equal(4, node.Cache.PendingInvalidations);
        Assert.Equal(SharedTierState.Unavailable, node.Tier.State);
    }

    private static async Task<RedisProcess> StartOwnAsync()
    {
        if (!RedisProcess.Available)
        {
            MissingServer.Skip(RedisProcess.SkipReason!);
        }

        return await RedisProcess.StartNewAsync();
    }
}
