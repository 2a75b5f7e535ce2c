using Coherent.InMemory;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>
/// Bulk operations (issue 15, part 2): L1 first, the shared tier for the rest, one factory call for what is left; each key
/// joins a flight already running for it and is fenced on its own.
/// </summary>
public sealed class BulkOperationTests
{
    private static CoherentCache Node(FakeTimeProvider time, InMemorySharedTierHub hub, string name) =>
        new CoherentCacheBuilder().WithTimeProvider(time).WithName($"{name}-{Guid.NewGuid():N}")
            .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0).NoEarlyRefresh())
            .WithSharedTier(hub.Node())
            .Build();

    /// <summary>A batch factory that records the keys of each call and answers "v:" + key, except for the keys it leaves out.</summary>
    private sealed class Source(params string[] leaveOut)
    {
        public List<string[]> Calls { get; } = [];

        public TaskCompletionSource? Gate { get; set; }

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationToken LastToken { get; private set; }

        public async ValueTask<IReadOnlyDictionary<string, string>> Load(IReadOnlyList<string> keys, CancellationToken ct)
        {
            lock (Calls)
            {
                Calls.Add(keys.OrderBy(k => k, StringComparer.Ordinal).ToArray());
            }

            LastToken = ct;
            Entered.TrySetResult();
            if (Gate is { } gate)
            {
                await gate.Task;
            }

            return keys.Where(k => !leaveOut.Contains(k)).ToDictionary(k => k, k => "v:" + k);
        }
    }

    [Fact]
    public async Task Keys_in_L1_or_the_shared_tier_are_served_from_there_and_the_factory_is_called_once_for_the_rest()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var other = Node(time, hub, "other");
        await using var node = Node(time, hub, "node");
        await other.GetOrSetAsync("item:shared", _ => ValueTask.FromResult("from-other"), cancellationToken: T.Ct);
        await node.GetOrSetAsync("item:local", _ => ValueTask.FromResult("from-l1"), cancellationToken: T.Ct);
        var source = new Source();

        var values = await node.GetOrSetManyAsync(["item:local", "item:shared", "item:a", "item:b", "item:a"], source.Load, cancellationToken: T.Ct);

        Assert.Equal(["item:a", "item:b"], Assert.Single(source.Calls));
        Assert.Equal("from-l1", values["item:local"]);
        Assert.Equal("from-other", values["item:shared"]);
        Assert.Equal("v:item:a", values["item:a"]);
        Assert.Equal(4, values.Count); // the duplicate once

        // Stored in both tiers: another node reads them without computing.
        var again = await other.GetOrSetManyAsync(["item:a", "item:b"], source.Load, cancellationToken: T.Ct);
        Assert.Equal("v:item:b", again["item:b"]);
        Assert.Single(source.Calls);
    }

    [Fact]
    public async Task A_key_another_caller_is_computing_joins_that_computation_instead_of_the_batch()
    {
        var time = T.Clock();
        await using var node = Node(time, new InMemorySharedTierHub(), "node");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var single = node.GetOrSetAsync("item:busy", async _ => { started.SetResult(); await release.Task; return "single"; }, cancellationToken: T.Ct).AsTask();
        await started.Task;

        var source = new Source();
        var batch = node.GetOrSetManyAsync(["item:busy", "item:free"], source.Load, cancellationToken: T.Ct).AsTask();
        await source.Entered.Task;
        Assert.Equal(["item:free"], Assert.Single(source.Calls));
        release.SetResult();

        var values = await batch;
        Assert.Equal("single", values["item:busy"]);
        Assert.Equal("v:item:free", values["item:free"]);
        Assert.Equal("single", await single);
    }

    [Fact]
    public async Task An_invalidation_of_one_key_during_the_batch_keeps_that_keys_value_out_of_both_tiers_only()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var node = Node(time, hub, "node");
        await using var other = Node(time, hub, "other");
        var source = new Source { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };

        var batch = node.GetOrSetManyAsync(["item:1", "item:2"], source.Load, cancellationToken: T.Ct).AsTask();
        await source.Entered.Task;
        await other.InvalidateAsync("item:1", T.Ct); // the source changed for item:1 while the batch read it
        source.Gate.SetResult();
        var values = await batch;
        Assert.Equal("v:item:1", values["item:1"]); // the caller gets what was computed ...

        // ... but neither tier keeps it; item:2 is kept.
        Assert.False((await node.TryGetAsync<string>("item:1", T.Ct)).Found);
        Assert.False((await other.TryGetAsync<string>("item:1", T.Ct)).Found);
        Assert.True((await other.TryGetAsync<string>("item:2", T.Ct)).Found);
    }

    [Fact]
    public async Task A_value_judged_at_the_start_of_a_bulk_call_is_judged_again_when_the_call_returns_past_its_bound()
    {
        // Found by the history proof's bulk reads on Memcached: a value an L1 hit served at the start of a long bulk call was
        // returned with the rest of the batch, past its MaxStaleness.
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var writer = Node(time, hub, "writer");
        await using var reader = Node(time, hub, "reader");
        await reader.GetOrSetAsync("item:1", _ => ValueTask.FromResult("old"), cancellationToken: T.Ct);
        hub.Frames = f => f.Receiver == reader.Name ? FrameFate.Delayed(TimeSpan.FromMinutes(1)) : FrameFate.Deliver; // held back: nothing confirms the reader now
        await writer.SetAsync("item:1", "new", cancellationToken: T.Ct); // returned before the bulk call begins
        var source = new Source { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };

        var batch = reader.GetOrSetManyAsync(["item:1", "item:2"], source.Load, cancellationToken: T.Ct).AsTask();
        await source.Entered.Task;
        Assert.Equal(["item:2"], Assert.Single(source.Calls)); // item:1 served from L1: within its bound at the start
        time.Advance(TimeSpan.FromSeconds(6)); // the factory takes longer than item:1's MaxStaleness (5 s)
        source.Gate.SetResult();
        var values = await batch;

        Assert.Equal("new", values["item:1"]); // judged again when the call returns: past its bound, so read again
        Assert.Equal("v:item:2", values["item:2"]);
    }

    [Fact]
    public async Task Keys_the_factory_does_not_return_are_absent_and_not_cached_and_unasked_ones_are_ignored()
    {
        var time = T.Clock();
        await using var node = Node(time, new InMemorySharedTierHub(), "node");
        var source = new Source("item:gone");

        var values = await node.GetOrSetManyAsync<string>(["item:here", "item:gone"], async (keys, ct) =>
        {
            var found = new Dictionary<string, string>(await source.Load(keys, ct)) { ["item:unasked"] = "x" };
            return found;
        }, cancellationToken: T.Ct);

        Assert.Equal(["item:here"], values.Keys);
        Assert.False((await node.TryGetAsync<string>("item:gone", T.Ct)).Found);
        Assert.False((await node.TryGetAsync<string>("item:unasked", T.Ct)).Found);

        // A caller of the absent key alone, later, computes it.
        Assert.Equal("later", await node.GetOrSetAsync("item:gone", _ => ValueTask.FromResult("later"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_key_the_factory_does_not_return_is_absent_not_failed_and_fail_safe_does_not_serve_its_last_value()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10), p => p.FailSafe(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5))).Build();
        using var metrics = new Metrics(cache.Name);
        await cache.SetAsync("price:gone", 1, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(10)); // expired: a failing factory would get it back from fail-safe

        var values = await cache.GetOrSetManyAsync<int>(["price:gone", "price:here"], (keys, _) =>
            ValueTask.FromResult<IReadOnlyDictionary<string, int>>(new Dictionary<string, int> { ["price:here"] = 2 }), cancellationToken: T.Ct);

        Assert.Equal(["price:here"], values.Keys);
        Assert.Equal(0, metrics.Counter("coherent.factory.failures", "price")); // the source answered: the key is gone
        Assert.Equal(0, metrics.Counter("coherent.fail_safe.activations", "price"));

        // The source said the key is gone, it did not fail: no fail-safe throttle holds the next caller on the last value.
        Assert.Equal(7, await cache.GetOrSetAsync("price:gone", _ => ValueTask.FromResult(7), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_bad_key_fails_the_call_naming_it_before_anything_is_read_or_computed()
    {
        var time = T.Clock();
        await using var node = Node(time, new InMemorySharedTierHub(), "node");
        var source = new Source();

        var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await node.GetOrSetManyAsync(["item:1", "bad\u0001key"], source.Load, cancellationToken: T.Ct));
        Assert.Contains("position 1", ex.Message);
        await Assert.ThrowsAsync<ArgumentException>(async () => await node.GetOrSetManyAsync(["item:1", null!], source.Load, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await node.SetManyAsync([new KeyValuePair<string, string>("", "x")], cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await node.InvalidateManyAsync(["item:1", new string('k', 2000)], T.Ct));
        Assert.Empty(source.Calls);
        Assert.False((await node.TryGetAsync<string>("item:1", T.Ct)).Found);
    }

    [Fact]
    public async Task A_caller_that_gives_up_does_not_cancel_the_batch_another_caller_waits_on()
    {
        var time = T.Clock();
        await using var node = Node(time, new InMemorySharedTierHub(), "node");
        var source = new Source { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        using var giveUp = new CancellationTokenSource();

        var first = node.GetOrSetManyAsync(["item:1"], source.Load, cancellationToken: giveUp.Token).AsTask();
        await source.Entered.Task;
        var second = node.GetOrSetAsync("item:1", _ => ValueTask.FromResult("unused"), cancellationToken: T.Ct).AsTask();
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        Assert.False(source.LastToken.IsCancellationRequested);
        source.Gate.SetResult();
        Assert.Equal("v:item:1", await second);
    }

    [Fact]
    public async Task TryGetMany_SetMany_and_InvalidateMany_work_on_every_key()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var node = Node(time, hub, "node");
        await using var other = Node(time, hub, "other");

        await node.SetManyAsync<int>([new("item:1", 1), new("item:2", 2)], cancellationToken: T.Ct);
        var found = await other.TryGetManyAsync<int>(["item:1", "item:2", "item:3"], T.Ct);
        Assert.Equal(new Dictionary<string, int> { ["item:1"] = 1, ["item:2"] = 2 }, found);

        await other.InvalidateManyAsync(["item:1", "item:2"], T.Ct);
        Assert.Empty(await node.TryGetManyAsync<int>(["item:1", "item:2"], T.Ct));
    }
}
