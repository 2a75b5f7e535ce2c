using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Issue 11, hole 5: a lease request whose caller stopped waiting (cancelled, or past the operation timeout) still runs in
/// Redis and takes the lease; its token was lost, nothing released it, and every node's next miss of the key waited the
/// whole lease time. One aborted HTTP request was enough.
/// </summary>
public sealed class OrphanedLeaseTests
{
    private static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_lease_taken_after_its_requester_stopped_waiting_is_released(bool cancelled)
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("l");
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.BreakerFailureThreshold = 100);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await using var admin = await server.ConnectAsync();
        var leaseKey = a.Tier.Keys.Lease("item:l");

        // The request goes out while the server is stopped, so it lands only after its requester has given up.
        using var leave = CancellationTokenSource.CreateLinkedTokenSource(ct);
        server.Pause();
        Exception? thrown;
        try
        {
            var request = a.Tier.TryAcquireLeaseAsync("item:l", LeaseTime, leave.Token).AsTask();
            if (cancelled)
            {
                await leave.CancelAsync();
            }

            thrown = await Record.ExceptionAsync(() => request); // cancelled, or the 300 ms operation timeout
        }
        finally
        {
            server.Resume();
        }

        Assert.NotNull(thrown);
        Assert.IsAssignableFrom(cancelled ? typeof(OperationCanceledException) : typeof(TimeoutException), thrown);
        await Eventually.TrueAsync(async () => !await admin.GetDatabase().KeyExistsAsync(leaseKey), TimeSpan.FromSeconds(5),
            $"the orphaned lease still blocks the key ({LeaseTime} lease)");

        // Another node's miss computes at once instead of waiting for a lease nobody holds.
        var computed = await b.Cache.GetOrSetAsync("item:l", _ => ValueTask.FromResult("fresh"), cancellationToken: ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), ct);
        Assert.Equal("fresh", computed);
    }
}
