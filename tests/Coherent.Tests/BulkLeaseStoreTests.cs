using Coherent.InMemory;
using Coherent.SharedTier;
using Coherent.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>
/// The bulk call's lease and store steps (issue 15, part 2): the misses of a batch take their leases in one
/// <see cref="ISharedTier.TryAcquireLeasesAsync"/> and store in one <see cref="ISharedTier.StoreManyIfEpochAsync"/> a
/// factory round, each key still fenced on its own. <see cref="GatedTier"/> counts the calls over the real in-memory tier.
/// </summary>
public sealed class BulkLeaseStoreTests
{
    private static CoherentCache Node(InMemorySharedTierHub hub, ISharedTierFactory? tier = null, FakeTimeProvider? time = null)
    {
        var builder = new CoherentCacheBuilder().WithName($"bulkstore-{Guid.NewGuid():N}")
            .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0).NoEarlyRefresh())
            .Define("slow", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0).NoEarlyRefresh().Timeouts(hard: TimeSpan.FromSeconds(2)))
            .WithSharedTier(tier ?? hub.Node());
        return (time is null ? builder : builder.WithTimeProvider(time)).Build();
    }

    private static ValueTask<IReadOnlyDictionary<string, string>> Computed(IReadOnlyList<string> keys, CancellationToken _) =>
        ValueTask.FromResult<IReadOnlyDictionary<string, string>>(keys.ToDictionary(k => k, k => "computed:" + k));

    private static ValueTask<IReadOnlyDictionary<string, string>> MustNotRun(IReadOnlyList<string> keys, CancellationToken _) =>
        throw new InvalidOperationException("every key should have been read from the shared tier: " + string.Join(", ", keys));

    [Fact]
    public async Task A_cold_batch_takes_its_leases_in_one_call_reads_the_versions_once_and_stores_its_values_in_one_call()
    {
        var hub = new InMemorySharedTierHub();
        var gated = new GatedTier(hub.Node());
        await using var node = Node(hub, gated);
        await using var other = Node(hub);
        var keys = Enumerable.Range(0, 40).Select(i => $"item:{i}").ToArray();

        var values = await node.GetOrSetManyAsync<string>(keys, Computed, cancellationToken: T.Ct);

        Assert.All(keys, k => Assert.Equal("computed:" + k, values[k]));
        Assert.Equal((1, 40, 0), (gated.LeaseBatches, gated.LastLeaseBatchSize, gated.SingleLeases));
        Assert.Equal((1, 40, 0), (gated.StoreBatches, gated.LastStoreBatchSize, gated.SingleStores));
        Assert.Equal(1, gated.Captures); // the versions every fill is stamped with, read once for the batch

        // Stored for the fleet: another node reads every key from the shared tier.
        var read = await other.GetOrSetManyAsync<string>(keys, MustNotRun, cancellationToken: T.Ct);
        Assert.All(keys, k => Assert.Equal("computed:" + k, read[k]));
    }

    [Fact]
    public async Task A_key_whose_lease_another_node_holds_waits_for_that_nodes_value_while_the_batch_computes_the_rest()
    {
        var hub = new InMemorySharedTierHub();
        await using var holder = Node(hub);
        await using var node = Node(hub);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = holder.GetOrSetAsync("item:3", async ct =>
        {
            holding.TrySetResult();
            await release.Task;
            return "holder's";
        }, cancellationToken: T.Ct).AsTask();
        await holding.Task; // the holder has the fleet lease of item:3 and computes it

        var asked = new List<string>();
        var values = await node.GetOrSetManyAsync<string>(["item:1", "item:2", "item:3", "item:4"], (keys, ct) =>
        {
            asked.AddRange(keys);
            release.TrySetResult(); // the holder finishes while this node waits for its fill
            return Computed(keys, ct);
        }, cancellationToken: T.Ct);

        Assert.Equal("holder's", await held);
        Assert.Equal("holder's", values["item:3"]);
        Assert.Equal(["item:1", "item:2", "item:4"], asked.Order(StringComparer.Ordinal));
        Assert.All(new[] { "item:1", "item:2", "item:4" }, k => Assert.Equal("computed:" + k, values[k]));
    }

    [Fact]
    public async Task A_batch_lease_that_fails_computes_every_key_once_and_still_fences_each_store_on_the_epoch_it_read()
    {
        var hub = new InMemorySharedTierHub();
        var gated = new GatedTier(hub.Node()) { ThrowOnLeases = true };
        await using var node = Node(hub, gated);
        await using var other = Node(hub);
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;

        var batch = node.GetOrSetManyAsync<string>(["item:1", "item:2"], async (keys, ct) =>
        {
            Interlocked.Increment(ref calls);
            entered.TrySetResult();
            await source.Task;
            return await Computed(keys, ct);
        }, cancellationToken: T.Ct).AsTask();
        await entered.Task;
        await other.InvalidateAsync("item:1", T.Ct); // moves item:1's epoch while its value is computed
        source.SetResult();
        var values = await batch;

        Assert.Equal(1, calls);
        Assert.Equal(("computed:item:1", "computed:item:2"), (values["item:1"], values["item:2"]));
        Assert.Equal(0, gated.SingleLeases); // no lease taken key by key after the batch's failed
        Assert.False((await other.TryGetAsync<string>("item:1", T.Ct)).Found); // fenced by the epoch its read carried
        Assert.True((await other.TryGetAsync<string>("item:2", T.Ct)).Found);
    }

    [Fact]
    public async Task A_batch_whose_version_read_fails_fails_its_computing_keys_instead_of_leaving_them_waiting()
    {
        var hub = new InMemorySharedTierHub();
        var gated = new GatedTier(hub.Node()) { CancelCaptures = true };
        await using var node = Node(hub, gated);

        var batch = node.GetOrSetManyAsync<string>(["item:1", "item:2"], Computed, cancellationToken: T.Ct).AsTask();

        // As a single key's flight fails when its own version read does; the flights must not be left in the table unfinished.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batch.WaitAsync(TimeSpan.FromSeconds(20), T.Ct));
        Assert.False(node.Diagnostics.IsComputing("item:1") || node.Diagnostics.IsComputing("item:2"));
    }

    [Fact]
    public async Task A_key_that_timed_out_before_its_round_ended_does_not_hold_back_the_stores_of_the_others()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        var gated = new GatedTier(hub.Node());
        await using var node = Node(hub, gated, time);
        await using var other = Node(hub, time: time);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var batch = node.GetOrSetManyAsync<string>(["slow:1", "item:1", "item:2"], async (keys, ct) =>
        {
            entered.TrySetResult();
            await release.Task;
            return await Computed(keys, ct);
        }, cancellationToken: T.Ct).AsTask();
        await entered.Task;
        await Eventually.TrueAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(500)); // past slow:1's hard timeout (its deadline is registered on this clock)
            return !node.Diagnostics.IsComputing("slow:1");
        }, TimeSpan.FromSeconds(10), "slow:1's flight never timed out");
        release.SetResult();

        // slow:1's flight is gone; the round's stores must not wait for it (they would wait forever).
        var failure = await Assert.ThrowsAsync<FactoryTimeoutException>(() => batch.WaitAsync(TimeSpan.FromSeconds(20), T.Ct));
        Assert.Contains("slow:1", failure.Message);
        Assert.Equal((1, 2), (gated.StoreBatches, gated.LastStoreBatchSize));
        Assert.True((await other.TryGetAsync<string>("item:1", T.Ct)).Found);
        Assert.True((await other.TryGetAsync<string>("item:2", T.Ct)).Found);
    }
}
