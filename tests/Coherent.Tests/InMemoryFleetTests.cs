using Coherent.InMemory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>
/// The fleet guarantees on the in-memory shared tier, with fake time and no server: the contract (Coherent.SharedTier) is
/// complete enough for a backend that is not Redis to keep them — and an application can test its own multi-node paths so.
/// The bus is the core's protocol (InvalidationBus: sequence numbers, heartbeats, gap detection) over the hub's frames, the
/// same protocol that runs over Redis pub/sub.
/// </summary>
public sealed class InMemoryFleetTests
{
    private static readonly TimeSpan MaxStaleness = TimeSpan.FromSeconds(2);

    /// <summary>The bus's sequence-gap event (2005), logged by the core's gap detection.</summary>
    private const int SequenceGap = 2005;

    private static CoherentCache Node(FakeTimeProvider time, InMemorySharedTierHub hub, string name, ILoggerFactory? logs = null)
    {
        var builder = new CoherentCacheBuilder().WithTimeProvider(time).WithName(name)
            .Define("item", p => p.MaxStaleness(MaxStaleness).Ttl(TimeSpan.FromMinutes(10)).Jitter(0).NoEarlyRefresh())
            .WithSharedTier(hub.Node());
        return (logs is null ? builder : builder.WithLoggerFactory(logs)).Build();
    }

    private static int Gaps(FakeLoggerProvider logs) => logs.Collector.GetSnapshot().Count(r => r.Id.Id == SequenceGap);

    private static ValueTask<string> Value(string value) => ValueTask.FromResult(value);

    [Fact]
    public async Task A_value_computed_on_one_node_is_a_shared_hit_on_the_others_and_an_invalidation_reaches_them_at_once()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b");
        var runs = 0;

        Assert.Equal("v1", await a.GetOrSetAsync("item:1", _ => { runs++; return Value("v1"); }, cancellationToken: T.Ct));
        Assert.Equal("v1", await b.GetOrSetAsync("item:1", _ => { runs++; return Value("other"); }, cancellationToken: T.Ct));
        Assert.Equal(1, runs);

        await a.InvalidateAsync("item:1", T.Ct);
        Assert.False((await b.TryGetAsync<string>("item:1", T.Ct)).Found); // dropped from b's L1, gone from the store
        Assert.Equal(SharedTierState.Healthy, b.SharedTierState);
    }

    [Fact]
    public async Task Tag_invalidations_and_clears_reach_every_node_and_the_store()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b");
        var tagged = new CacheEntryOptions { Tags = ["catalog"] };
        await a.GetOrSetAsync("item:1", _ => Value("old"), tagged, T.Ct);
        await b.GetOrSetAsync("item:1", _ => Value("unused"), tagged, T.Ct);
        await b.GetOrSetAsync("item:2", _ => Value("kept"), cancellationToken: T.Ct);

        await a.InvalidateTagAsync("catalog", T.Ct);
        Assert.Equal("new", await b.GetOrSetAsync("item:1", _ => Value("new"), tagged, T.Ct));
        Assert.Equal("kept", await b.GetOrSetAsync("item:2", _ => Value("other"), cancellationToken: T.Ct));

        await b.ClearAsync(T.Ct);
        Assert.Equal("after-clear", await a.GetOrSetAsync("item:2", _ => Value("after-clear"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_dropped_invalidation_is_served_stale_at_most_until_the_next_heartbeat_notices_the_loss()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub { HeartbeatInterval = TimeSpan.FromMilliseconds(100) };
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(l => l.AddProvider(logs));
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b", loggers);
        await b.GetOrSetAsync("item:1", _ => Value("old"), cancellationToken: T.Ct);

        hub.Frames = f => f.Receiver == b.Name ? FrameFate.Lost : FrameFate.Deliver;
        await a.InvalidateAsync("item:1", T.Ct);
        Assert.Equal(1, hub.FramesDropped);

        // The loss is not known yet: no node can tell before the sender's next frame or heartbeat shows the gap in its numbers.
        Assert.Equal("old", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct));
        Assert.Equal(0, Gaps(logs));

        time.Advance(TimeSpan.FromMilliseconds(100)); // a's heartbeat carries its last number: b's gap detection drops its L1
        Assert.Equal(1, Gaps(logs));
        Assert.Equal("new", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct));
        Assert.Equal(SharedTierState.Healthy, b.SharedTierState);
    }

    [Fact]
    public async Task A_delayed_invalidation_holds_back_the_receivers_confirmation_so_its_copy_ages_out_within_max_staleness()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b");
        await b.GetOrSetAsync("item:1", _ => Value("old"), cancellationToken: T.Ct);

        hub.Frames = f => f.Receiver == b.Name ? FrameFate.Delayed(TimeSpan.FromMinutes(1)) : FrameFate.Deliver;
        await a.InvalidateAsync("item:1", T.Ct);
        time.Advance(MaxStaleness - TimeSpan.FromMilliseconds(50));
        Assert.Equal("old", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct)); // within the bound
        time.Advance(TimeSpan.FromMilliseconds(100)); // b's own heartbeats wait behind the frame: nothing confirmed, the bound ends
        Assert.Equal("new", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct));
        Assert.Equal(SharedTierState.Degraded, b.SharedTierState); // its heartbeat is overdue: the bus is suspect

        time.Advance(TimeSpan.FromMinutes(1)); // the frame, then everything queued behind it, arrives: the bus recovers
        Assert.Equal(SharedTierState.Healthy, b.SharedTierState);
    }

    [Fact]
    public async Task A_dropped_invalidation_is_detected_by_the_next_frame_of_its_sender_before_any_heartbeat()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(l => l.AddProvider(logs));
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b", loggers);
        await b.GetOrSetAsync("item:1", _ => Value("old"), cancellationToken: T.Ct);
        await b.GetOrSetAsync("item:3", _ => Value("kept"), cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromMilliseconds(1)); // a gap drops entries fetched before its detection: not in the same millisecond

        hub.Frames = f => f.Receiver == b.Name && f.Name == "item:1" ? FrameFate.Lost : FrameFate.Deliver;
        await a.InvalidateAsync("item:1", T.Ct);
        Assert.Equal("old", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct)); // not known yet
        await a.InvalidateAsync("item:2", T.Ct); // numbered after the lost one: the gap shows at once

        Assert.Equal(1, Gaps(logs));
        Assert.Equal(0, b.LocalCount); // every entry fetched before the gap went (item:3 is read from the store again)
        Assert.Equal("new", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_frame_overtaken_by_a_later_one_is_a_gap_at_once_on_a_bus_that_keeps_order()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub(); // a standalone server: one sender's frames never legitimately arrive out of order
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(l => l.AddProvider(logs));
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b", loggers);
        await b.GetOrSetAsync("item:1", _ => Value("old"), cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromMilliseconds(1)); // a gap drops entries fetched before its detection: not in the same millisecond

        hub.Frames = f => f.Receiver == b.Name && f.Name == "item:1" ? FrameFate.Reordered(TimeSpan.FromMilliseconds(50)) : FrameFate.Deliver;
        await a.InvalidateAsync("item:1", T.Ct);
        await a.InvalidateAsync("item:2", T.Ct); // overtakes it

        Assert.Equal(1, Gaps(logs));
        Assert.Equal("new", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct)); // before the late frame arrives
        time.Advance(TimeSpan.FromMilliseconds(50)); // the late frame: a number already declared lost, not acted on twice
        Assert.Equal(1, Gaps(logs));
        Assert.Equal("new", await b.GetOrSetAsync("item:1", _ => Value("newer"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_reordered_frame_arriving_within_the_grace_of_a_reordering_bus_is_applied_and_drops_nothing_else()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub { MayReorder = true }; // as a Redis Cluster: grace of two heartbeats (200 ms)
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(l => l.AddProvider(logs));
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b", loggers);
        await b.GetOrSetAsync("item:1", _ => Value("old"), cancellationToken: T.Ct);
        await b.GetOrSetAsync("item:3", _ => Value("kept"), cancellationToken: T.Ct);

        hub.Frames = f => f.Receiver == b.Name && f.Name == "item:1" ? FrameFate.Reordered(TimeSpan.FromMilliseconds(20)) : FrameFate.Deliver;
        await a.InvalidateAsync("item:1", T.Ct);
        await a.InvalidateAsync("item:2", T.Ct); // overtakes it: a missing number, not yet a loss
        Assert.Equal("old", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct)); // its frame is still on its way

        time.Advance(TimeSpan.FromMilliseconds(20));
        Assert.Equal("new", await b.GetOrSetAsync("item:1", _ => Value("new"), cancellationToken: T.Ct));
        Assert.Equal("kept", await b.GetOrSetAsync("item:3", _ => Value("other"), cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromMilliseconds(300)); // past the grace: nothing was declared lost
        Assert.Equal(0, Gaps(logs));
    }

    [Fact]
    public async Task A_fill_computed_before_another_nodes_invalidation_never_enters_the_store()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b");
        var started = T.Gate();
        var release = T.Gate();

        var fill = a.GetOrSetAsync("item:1", async _ => { started.SetResult(); await release.Task; return "computed-before"; }, cancellationToken: T.Ct).AsTask();
        await started.Task;
        await b.InvalidateAsync("item:1", T.Ct);
        release.SetResult();

        Assert.Equal("computed-before", await fill); // its caller gets it (it asked before the invalidation)
        Assert.False(hub.Holds("item:1", time.GetUtcNow().ToUnixTimeMilliseconds())); // fenced out of the store
        Assert.Equal("fresh", await b.GetOrSetAsync("item:1", _ => Value("fresh"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Three_nodes_missing_one_key_at_once_run_its_factory_once()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b");
        await using var c = Node(time, hub, "c");
        var runs = 0;
        var release = T.Gate();
        async ValueTask<string> Factory(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            await release.Task;
            return "once";
        }

        var first = a.GetOrSetAsync("item:9", Factory, cancellationToken: T.Ct).AsTask();
        await T.Until(() => Volatile.Read(ref runs) == 1, "a holds the lease and computes");
        var others = new[] { b.GetOrSetAsync("item:9", Factory, cancellationToken: T.Ct).AsTask(), c.GetOrSetAsync("item:9", Factory, cancellationToken: T.Ct).AsTask() };
        release.SetResult();

        Assert.Equal(["once", "once", "once"], await Task.WhenAll([first, .. others]));
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task Paused_storage_costs_a_read_one_operation_timeout_and_the_value_is_computed_locally()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub { OperationTimeout = TimeSpan.FromMilliseconds(500) };
        await using var a = Node(time, hub, "a");
        hub.Pause();

        var read = a.GetOrSetAsync("item:1", _ => Value("local"), cancellationToken: T.Ct).AsTask();
        await T.Until(() => hub.WaitingOnPause == 1, "the read waits on the paused store");
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal("local", await read);
        Assert.Equal(SharedTierState.Unavailable, a.SharedTierState);

        hub.Resume();
        Assert.Equal("second", await a.GetOrSetAsync("item:2", _ => Value("second"), cancellationToken: T.Ct));
        Assert.Equal(SharedTierState.Healthy, a.SharedTierState);
    }
}
