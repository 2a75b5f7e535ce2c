using System.Collections.Concurrent;
using System.Diagnostics;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// A node that waits for another node's fill must not outwait an invalidation of the key. The invalidation deletes the
/// holder's lease with the entry; the holder, fenced by it, then gives back a lease it no longer holds, which announces
/// nothing — and the waiter slept until its lease time ran out (found by the fleet-load bench's span timings: one lease
/// wait of 1,002 ms, the family's whole lease time).
/// </summary>
public sealed class LeaseWaitTests
{
    private static readonly TimeSpan HardTimeout = TimeSpan.FromSeconds(20); // the lease time is this plus 1 s

    [Fact]
    public async Task A_node_waiting_for_another_nodes_fill_wakes_when_the_key_is_invalidated_and_the_holder_gives_its_lease_back()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("lw");
        var ct = TestContext.Current.CancellationToken;
        static void Family(CoherentCacheBuilder b) =>
            b.Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)).Jitter(0).NoEarlyRefresh().Timeouts(hard: HardTimeout));
        await using var holder = await Node.StartAsync(server.Endpoint, prefix, build: Family);
        await using var waiter = await Node.StartAsync(server.Endpoint, prefix, build: Family);
        var key = $"item:wake-{Guid.NewGuid():N}";

        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Coherent",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStarted = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);

        // The holder has the fleet's lease, as a node computing the key would.
        var lease = await holder.Tier.TryAcquireLeaseAsync(key, HardTimeout + TimeSpan.FromSeconds(1), ct);
        Assert.NotNull(lease);
        var read = waiter.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("fresh"), cancellationToken: ct).AsTask();
        await Eventually.TrueAsync(() => spans.Any(s => s.OperationName == "coherent.lease.wait" && Equals(s.GetTagItem("coherent.key"), key)),
            TimeSpan.FromSeconds(10), "the waiter never waited for the holder's fill");

        await holder.Cache.InvalidateAsync(key, ct); // deletes the lease with the entry
        await holder.Tier.ReleaseLeaseAsync(lease!, ct); // gives back a lease it no longer holds: no notice

        // Well inside the 21 s lease time: the waiter read again and computed.
        Assert.Equal("fresh", await read.WaitAsync(TimeSpan.FromSeconds(10), ct));
    }
}
