using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Issue 11, hole 1: a lost tag or clear message. The sequence gap is detected and L1 dropped, but this node's tag and clear
/// versions moved only with a bus message: the next read accepted the old L2 entry as current, and the periodic version
/// refresh taught the tier the new version without voiding what L1 had been given meanwhile — the healthy bus then kept
/// confirming it until its Ttl.
/// </summary>
public sealed class LostVersionMessageTests
{
    private static readonly CacheEntryOptions Tagged = new() { Tags = ["catalog"] };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_lost_tag_or_clear_message_is_never_refilled_from_L2_as_current(bool clear)
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("g");
        var drop = 0;
        var marker = clear ? "C|" : "T|";
        await using var a = await Node.StartAsync(server.Endpoint, prefix,
            o => o.DropIncomingMessage = m => m.StartsWith(marker, StringComparison.Ordinal) && Interlocked.Exchange(ref drop, 0) == 1);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await b.Cache.SetAsync("item:g", "old", Tagged, ct);
        Assert.Equal("old", await a.Cache.GetOrSetAsync("item:g", _ => ValueTask.FromResult("new"), Tagged, ct));

        // Only A loses the message; B's next heartbeat reveals the gap.
        var gaps = a.Tier.Bus!.GapsDetected;
        Volatile.Write(ref drop, 1);
        if (clear)
        {
            await b.Cache.ClearAsync(ct);
        }
        else
        {
            await b.Cache.InvalidateTagAsync("catalog", ct);
        }

        await Eventually.TrueAsync(() => a.Tier.Bus!.GapsDetected > gaps, TimeSpan.FromSeconds(5), "the lost message was never detected");
        Assert.Equal(0, Volatile.Read(ref drop));

        Assert.Equal("new", await a.Cache.GetOrSetAsync("item:g", _ => ValueTask.FromResult("new"), Tagged, ct));
        await Task.Delay(2 * Node.MaxStaleness, ct); // heartbeats and the periodic version refresh run meanwhile
        Assert.Equal("new", await a.Cache.GetOrSetAsync("item:g", _ => ValueTask.FromResult("new"), Tagged, ct));
    }
}
