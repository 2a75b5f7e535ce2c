using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Issue 11, hole 2: a node's first milliseconds. Build() returned and the node served (and reported healthy) before its
/// SUBSCRIBE completed; an invalidation published in that window was never seen, no gap was detected (a sender's numbering
/// started at the first message received from it), and the first heartbeat then vouched for the stale entry until its Ttl.
/// </summary>
public sealed class NodeStartTests
{
    private static string NewPrefix() => KeyPrefix.New("n");

    [Fact]
    public async Task An_invalidation_published_before_the_nodes_subscription_is_never_vouched_for()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = NewPrefix();
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await b.Cache.SetAsync("item:s", "old", cancellationToken: ct);

        var subscribe = new TaskCompletionSource();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.BeforeSubscribe = () => subscribe.Task, waitForBus: false);
        Assert.Equal("old", await a.Cache.GetOrSetAsync("item:s", _ => ValueTask.FromResult("computed"), cancellationToken: ct));
        Assert.NotEqual(SharedTierState.Healthy, a.Cache.SharedTierState); // not subscribed yet: nothing is confirmed

        await b.Cache.InvalidateAsync("item:s", ct); // A cannot hear it
        subscribe.SetResult();
        await a.WaitForBusAsync();
        Assert.Equal(SharedTierState.Healthy, a.Cache.SharedTierState);

        Assert.Equal("computed", await a.Cache.GetOrSetAsync("item:s", _ => ValueTask.FromResult("computed"), cancellationToken: ct));
    }

    [Fact]
    public async Task A_lost_first_message_from_a_sender_is_a_detected_gap()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = NewPrefix();
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await b.Cache.SetAsync("item:f", "old", cancellationToken: ct);
        await b.WaitForBusAsync(); // a heartbeat has recorded B's last sequence number since

        // A hears nothing from B (heartbeats included) until B's invalidation, which A loses: its first message from B.
        var phase = 1;
        var bHeartbeat = "H|" + b.Tier.SenderId + "|";
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.DropIncomingMessage = m =>
        {
            if (Volatile.Read(ref phase) != 1)
            {
                return false;
            }

            if (m.StartsWith("I|", StringComparison.Ordinal))
            {
                Volatile.Write(ref phase, 2);
                return true;
            }

            return m.StartsWith(bHeartbeat, StringComparison.Ordinal);
        });
        Assert.Equal("old", await a.Cache.GetOrSetAsync("item:f", _ => ValueTask.FromResult("computed"), cancellationToken: ct));

        await b.Cache.InvalidateAsync("item:f", ct);
        await Eventually.TrueAsync(() => Volatile.Read(ref phase) == 2, TimeSpan.FromSeconds(5), "the invalidation never reached A");
        await Eventually.TrueAsync(() => a.Tier.Bus!.GapsDetected > 0, TimeSpan.FromSeconds(5), "the lost first message was never detected");
        Assert.Equal("computed", await a.Cache.GetOrSetAsync("item:f", _ => ValueTask.FromResult("computed"), cancellationToken: ct));
    }
}
