using System.Diagnostics;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

public sealed class ClusterFixture : IAsyncLifetime
{
    public RedisCluster? Cluster { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (RedisProcess.Available)
        {
            Cluster = await RedisCluster.StartAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
    }

    public RedisCluster Require()
    {
        RedisProcess.RequireInstalled();
        return Cluster!;
    }
}

/// <summary>The same guarantees on a 3-master Redis Cluster: scripts stay in one slot, the bus reaches every node.</summary>
public sealed class ClusterTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static string Prefix() => KeyPrefix.New("c");

    [Fact]
    public async Task Read_through_fencing_and_propagation_work_across_slots()
    {
        var cluster = fixture.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(cluster.Configuration, prefix);
        await using var b = await Node.StartAsync(cluster.Configuration, prefix);
        Assert.True(a.Tier.Transport!.MayReorder);
        var ct = TestContext.Current.CancellationToken;
        var lags = new List<double>();
        for (var i = 0; i < 60; i++)
        {
            var key = "item:" + i; // spread over the three masters
            var runs = 0;
            Assert.Equal(i, await a.Cache.GetOrSetAsync(key, _ => { runs++; return ValueTask.FromResult(i); }, cancellationToken: ct));
            Assert.Equal(i, await b.Cache.GetOrSetAsync(key, _ => { runs++; return ValueTask.FromResult(-1); }, cancellationToken: ct));
            Assert.Equal(1, runs);
            var watch = Stopwatch.StartNew();
            await a.Cache.InvalidateAsync(key, ct);
            var spin = new SpinWait();
            while (b.HasLocal(key) && watch.ElapsedMilliseconds < 2000)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }

            lags.Add(watch.Elapsed.TotalMilliseconds);
        }

        TestContext.Current.SendDiagnosticMessage($"cluster propagation n=60: p50 {Percentiles.Of(lags, 50):F2} ms, p99 {Percentiles.Of(lags, 99):F2} ms");
        Assert.True(lags.Max() < 2000, "an invalidation never arrived");
        Assert.Equal(0, b.Tier.Bus!.GapsDetected);
    }

    [Fact]
    public async Task A_bulk_read_of_keys_on_every_master_reads_each_slot_and_computes_the_rest_once()
    {
        var cluster = fixture.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(cluster.Configuration, prefix);
        await using var b = await Node.StartAsync(cluster.Configuration, prefix);
        var ct = TestContext.Current.CancellationToken;
        var keys = Enumerable.Range(0, 40).Select(i => "item:" + i).ToArray(); // spread over the three masters
        foreach (var key in keys.Take(30))
        {
            await a.Cache.SetAsync(key, "stored:" + key, cancellationToken: ct);
        }

        var calls = new List<string[]>();
        ValueTask<IReadOnlyDictionary<string, string>> Load(IReadOnlyList<string> missing, CancellationToken _)
        {
            calls.Add(missing.ToArray());
            return ValueTask.FromResult<IReadOnlyDictionary<string, string>>(missing.ToDictionary(k => k, k => "computed:" + k));
        }

        // The first batch meets the client's cross-slot refusal and reads again slot by slot; the second starts there and
        // finds every key, the computed ones included, in Redis.
        await using var c = await Node.StartAsync(cluster.Configuration, prefix);
        foreach (var (reader, asked) in new[] { (b, keys.Skip(30).ToArray()), (c, Array.Empty<string>()) })
        {
            calls.Clear();
            var values = await reader.Cache.GetOrSetManyAsync<string>(keys, Load, cancellationToken: ct);
            Assert.All(keys.Take(30), k => Assert.Equal("stored:" + k, values[k]));
            Assert.All(keys.Skip(30), k => Assert.Equal("computed:" + k, values[k]));
            Assert.Equal(asked.Order(StringComparer.Ordinal), calls.SelectMany(k => k).Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task One_factory_run_and_tags_on_the_cluster()
    {
        var cluster = fixture.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(cluster.Configuration, prefix);
        await using var b = await Node.StartAsync(cluster.Configuration, prefix);
        var ct = TestContext.Current.CancellationToken;
        var runs = 0;
        var tagged = new CacheEntryOptions { Tags = ["catalog"] };
        var calls = new[] { a, b }.SelectMany(n => Enumerable.Range(0, 10).Select(_ => n.Cache.GetOrSetAsync("item:herd", async c =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(50, c);
            return 1;
        }, tagged, ct).AsTask())).ToArray();
        Assert.All(await Task.WhenAll(calls), v => Assert.Equal(1, v));
        Assert.Equal(1, runs);

        await a.Cache.InvalidateTagAsync("catalog", ct);
        await Eventually.TrueAsync(async () => await b.Cache.GetOrSetAsync("item:herd", _ => ValueTask.FromResult(2), tagged, ct) == 2, TimeSpan.FromSeconds(2), "tag did not reach B");
    }

    /// <summary>
    /// A tag the factory adds, invalidated by another node while the factory runs, its message never reaching the storing
    /// node: the fleet's count of tag invalidations lives in its own slot, apart from the tag's version key, and still
    /// keeps the value out of L2.
    /// </summary>
    [Fact]
    public async Task A_tag_the_factory_adds_is_fenced_across_slots_on_the_cluster()
    {
        var cluster = fixture.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(cluster.Configuration, prefix,
            o => o.DropIncomingMessage = m => m.StartsWith("T|", StringComparison.Ordinal));
        await using var b = await Node.StartAsync(cluster.Configuration, prefix);
        var ct = TestContext.Current.CancellationToken;
        await b.Cache.InvalidateTagAsync("catalog", ct);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fill = a.Cache.GetOrSetAsync<string>("item:added", async (context, token) =>
        {
            entered.SetResult();
            await release.Task.WaitAsync(token);
            context.AddTags("catalog");
            return "old";
        }, cancellationToken: ct).AsTask();
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        await b.Cache.InvalidateTagAsync("catalog", ct);
        release.SetResult();
        Assert.Equal("old", await fill);

        await using var c = await Node.StartAsync(cluster.Configuration, prefix);
        Assert.Equal("new", await c.Cache.GetOrSetAsync("item:added", _ => ValueTask.FromResult("new"), cancellationToken: ct));
    }

    [Fact]
    public async Task Dropped_message_on_the_cluster_is_still_detected()
    {
        var cluster = fixture.Require();
        var (result, dropped, gaps) = await StalenessProbe.DroppedMessageAsync(cluster.Configuration, Prefix(), TimeSpan.FromMilliseconds(Node.MaxStaleness.TotalMilliseconds + 1000), TestContext.Current.CancellationToken);
        Assert.True(dropped, "the hook did not drop the invalidation");
        Assert.True(gaps >= 1, "the gap was not detected");
        TestContext.Current.SendDiagnosticMessage($"cluster dropped message: worst staleness {result.WorstStaleMs:F0} ms");
        Assert.True(result.Converged);
        Assert.True(result.WorstStaleMs <= Node.MaxStaleness.TotalMilliseconds + 20, $"served stale {result.WorstStaleMs} ms");
    }

    /// <summary>
    /// Issue 11, hole 9: a key starting with '}' gives its Redis keys an empty hash tag, so the write's keys span slots and
    /// the client refuses the script before sending it. That refusal must not burn a sequence number (every other node would
    /// see a gap and drop its whole L1, again on every retry), and it is a refusal, retried with backoff, not an outage.
    /// </summary>
    [Fact]
    public async Task A_write_whose_keys_span_slots_is_refused_without_a_sequence_gap_on_other_nodes()
    {
        var cluster = fixture.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(cluster.Configuration, prefix);
        await using var b = await Node.StartAsync(cluster.Configuration, prefix);
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:kept", _ => ValueTask.FromResult(1), cancellationToken: ct));

        var refused = await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("}spans", ct));
        Assert.True(RedisTier.IsRefusal(refused.InnerException!), refused.InnerException!.GetType().Name + ": " + refused.InnerException.Message);
        await a.Cache.InvalidateAsync("item:other", ct);
        await Eventually.TrueAsync(() => !b.HasLocal("item:other") && b.Tier.Bus!.ConfirmedUpToMs > 0, TimeSpan.FromSeconds(2), "B never heard from A");
        await b.WaitForBusAsync(); // past the cluster's grace for out-of-order numbers

        Assert.True(b.Tier.Bus!.GapsDetected == 0, "gaps: " + string.Join("; ", b.Logs.Events.Where(e => e.EventId is 2003 or 2005).Select(e => e.Message)));
        Assert.True(b.HasLocal("item:kept"), "B dropped its L1 for a message that was never sent");
        Assert.Equal(1, a.Cache.PendingInvalidations);
    }
}
