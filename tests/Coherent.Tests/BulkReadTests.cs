using Coherent.InMemory;
using Coherent.SharedTier;
using Coherent.Testing;

namespace Coherent.Tests;

/// <summary>
/// The bulk call's shared read (issue 15, part 2): one <see cref="ISharedTier.ReadManyAsync"/> for every key L1 did not
/// serve, each key still fenced on its own by its flight. A gating decorator over the in-memory tier (an injected fault:
/// the read is held after it returned, before the engine sees it) makes each race deterministic.
/// </summary>
public sealed class BulkReadTests
{
    private static CoherentCache Node(InMemorySharedTierHub hub, ISharedTierFactory? tier = null) =>
        new CoherentCacheBuilder().WithName($"bulkread-{Guid.NewGuid():N}")
            .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0).NoEarlyRefresh())
            .WithSharedTier(tier ?? hub.Node())
            .Build();

    private static ValueTask<IReadOnlyDictionary<string, string>> Computed(IReadOnlyList<string> keys, CancellationToken _) =>
        ValueTask.FromResult<IReadOnlyDictionary<string, string>>(keys.ToDictionary(k => k, k => "computed:" + k));

    [Fact]
    public async Task A_batch_reads_every_key_L1_did_not_serve_in_one_shared_read()
    {
        var hub = new InMemorySharedTierHub();
        var gated = new GatedTier(hub.Node());
        await using var writer = Node(hub);
        await using var reader = Node(hub, gated);
        var keys = Enumerable.Range(0, 50).Select(i => $"item:{i}").ToArray();
        foreach (var key in keys.Skip(1).Take(39))
        {
            await writer.SetAsync(key, "stored:" + key, cancellationToken: T.Ct);
        }

        // item:0 in the reader's L1: written by the reader itself (no other node's frame can drop it), once past its first
        // heartbeat (the bus's first reconciliation drops what L1 held before).
        await Eventually.TrueAsync(() => reader.SharedTierState == SharedTierState.Healthy, TimeSpan.FromSeconds(10), "the reader's bus never became healthy");
        await reader.SetAsync("item:0", "stored:item:0", cancellationToken: T.Ct);
        var before = (gated.Batches, gated.SingleReads);

        var values = await reader.GetOrSetManyAsync<string>(keys, Computed, cancellationToken: T.Ct);

        Assert.Equal(1, gated.Batches - before.Batches);
        Assert.Equal(49, gated.LastBatchSize);
        Assert.Equal(0, gated.SingleReads - before.SingleReads); // the misses go on from the batch's answer, not a read of their own
        Assert.All(keys.Take(40), k => Assert.Equal("stored:" + k, values[k]));
        Assert.All(keys.Skip(40), k => Assert.Equal("computed:" + k, values[k]));
    }

    [Fact]
    public async Task An_invalidation_while_the_batch_read_is_out_keeps_the_value_it_returned_out_of_L1()
    {
        var hub = new InMemorySharedTierHub();
        var gated = new GatedTier(hub.Node()) { Hold = true };
        await using var reader = Node(hub, gated);
        // Written by the reader itself (no other node's invalidation frame can reach it during the batch), then dropped from
        // its L1; and past its first heartbeat (a read in flight across the bus's first reconciliation serves but does not fill).
        await Eventually.TrueAsync(() => reader.SharedTierState == SharedTierState.Healthy, TimeSpan.FromSeconds(10), "the reader's bus never became healthy");
        await reader.SetAsync("item:1", "old", cancellationToken: T.Ct);
        await reader.SetAsync("item:2", "kept", cancellationToken: T.Ct);
        reader.Diagnostics.DropAllLocal();

        var batch = reader.GetOrSetManyAsync<string>(["item:1", "item:2"], Computed, cancellationToken: T.Ct).AsTask();
        await gated.Read.Task; // the tier answered "old" for item:1; the engine has not seen it yet
        await reader.InvalidateAsync("item:1", T.Ct);
        gated.Release.SetResult();
        var values = await batch;

        Assert.Equal("old", values["item:1"]); // read before the invalidation returned: served once ...
        Assert.False(reader.Diagnostics.HasLocal("item:1")); // ... never kept
        Assert.True(reader.Diagnostics.HasLocal("item:2"));
        Assert.Equal("new", await reader.GetOrSetAsync("item:1", _ => ValueTask.FromResult("new"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_batch_read_that_throws_computes_every_key_and_stores_none_in_the_shared_tier()
    {
        var hub = new InMemorySharedTierHub();
        var gated = new GatedTier(hub.Node()) { Throw = true };
        await using var writer = Node(hub);
        await using var reader = Node(hub, gated);
        await writer.SetAsync("item:1", "stored", cancellationToken: T.Ct);

        var values = await reader.GetOrSetManyAsync<string>(["item:1", "item:2"], Computed, cancellationToken: T.Ct);

        Assert.Equal("computed:item:1", values["item:1"]); // unavailable: computed, as a single read that fails
        Assert.Equal("computed:item:2", values["item:2"]);
        Assert.Equal("stored", await writer.GetOrSetAsync("item:1", _ => ValueTask.FromResult("unused"), cancellationToken: T.Ct));
        Assert.False((await writer.TryGetAsync<string>("item:2", T.Ct)).Found); // never stored without the epoch a read fences with
    }

    [Fact]
    public async Task The_batch_read_and_the_rounds_store_are_one_span_each_with_their_counts()
    {
        var hub = new InMemorySharedTierHub();
        await using var writer = Node(hub);
        await using var reader = Node(hub);
        var prefix = $"item:{Guid.NewGuid():N}";
        await writer.SetAsync(prefix + "1", "stored", cancellationToken: T.Ct);
        await writer.SetAsync(prefix + "2", "stored", cancellationToken: T.Ct);
        var spans = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == "Coherent",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        var keys = new[] { prefix + "1", prefix + "2", prefix + "3", prefix + "4", prefix + "5" };
        await reader.GetOrSetManyAsync<string>(keys, Computed, cancellationToken: T.Ct);

        // Other tests' batches may run alongside: ours is the one of five keys with two hits, whose round stored three.
        var batch = Assert.Single(spans, s => s.OperationName == "coherent.l2.read_many" && Equals(s.GetTagItem("coherent.keys"), 5) && Equals(s.GetTagItem("coherent.hits"), 2));
        Assert.Equal("read", batch.GetTagItem("coherent.outcome"));
        Assert.Contains(spans, s => s.OperationName == "coherent.l2.write_many" && Equals(s.GetTagItem("coherent.keys"), 3)
            && Equals(s.GetTagItem("coherent.stored"), 3) && Equals(s.GetTagItem("coherent.outcome"), "stored"));
        Assert.DoesNotContain(spans, s => s.OperationName is "coherent.l2.read" or "coherent.l2.write" && keys.Contains(s.GetTagItem("coherent.key")));
    }
}
