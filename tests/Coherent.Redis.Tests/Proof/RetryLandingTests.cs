using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Found by the history proof (cluster run with a killed master: "node 0 acct:57: v10, database v14" after the run, node 0
/// being the key's writer): while its invalidation was pending, the writer refilled its L1 from the old L2 copy, and when
/// the retry landed it kept that copy — a node ignores its own bus messages — until the local TTL.
/// </summary>
public sealed class RetryLandingTests
{
    [Fact]
    public async Task When_a_queued_invalidation_lands_the_writer_drops_what_it_refilled_meanwhile()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var refuse = 0;

        // The invalidation fails before anything is sent (an injected fault), so it certainly did not land: a cut
        // connection could still deliver it when healed, and the run would then prove nothing.
        await using var a = await Node.StartAsync(server.Endpoint, KeyPrefix.New("q"), o =>
        {
            o.RetryInterval = TimeSpan.FromSeconds(5);
            o.BeforeWrite = _ =>
            {
                if (Interlocked.Exchange(ref refuse, 0) == 1)
                {
                    throw new TimeoutException("injected: the invalidation never left this node");
                }
            };
        });
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.SetAsync("item:r", "old", cancellationToken: ct);

        Volatile.Write(ref refuse, 1);
        await Assert.ThrowsAsync<InvalidationFailedException>(async () => await a.Cache.InvalidateAsync("item:r", ct));
        Assert.Equal(SharedTierState.Healthy, a.Cache.SharedTierState);

        // Before the retry lands, L2 still has the old value (the documented unbounded window) and A may refill from it.
        var meanwhile = await a.Cache.GetOrSetAsync("item:r", _ => ValueTask.FromResult("new"), cancellationToken: ct);

        // The precondition the fix is about: the retry has not landed, and A refilled its L1 with the old copy.
        Assert.True(a.Cache.PendingInvalidations > 0, "the retry landed before the read: this run proves nothing");
        Assert.Equal("old", meanwhile);
        Assert.True(a.HasLocal("item:r"), "A did not refill its L1 from the old L2 copy: this run proves nothing");
        await Eventually.TrueAsync(() => a.Cache.PendingInvalidations == 0, TimeSpan.FromSeconds(15), "the retry never landed");

        Assert.Equal("new", await a.Cache.GetOrSetAsync("item:r", _ => ValueTask.FromResult("new"), cancellationToken: ct));
    }
}
