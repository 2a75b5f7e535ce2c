using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>Every failure of a write surfaces as <see cref="InvalidationFailedException"/> with its retry queued (issue 11, hole 4).</summary>
public sealed class WriteFailureTests
{
    private static string NewPrefix() => KeyPrefix.New("f");

    /// <summary>
    /// Stamping a tag the writer has never seen reads the tag's version from Redis. That read ran outside the write's
    /// error handling: with Redis unreachable the caller got a raw Redis timeout and nothing was queued, so other nodes kept
    /// the old value until its Ttl.
    /// </summary>
    [Fact]
    public async Task A_tagged_SetAsync_with_redis_unreachable_throws_InvalidationFailed_and_its_retry_lands()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = NewPrefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var tagged = new CacheEntryOptions { Tags = ["never-seen-by-a"] };
        await b.Cache.SetAsync("item:t", "old", tagged, ct);
        Assert.Equal("old", await b.Cache.GetOrSetAsync("item:t", _ => ValueTask.FromResult("computed"), tagged, ct));

        server.Pause();
        Exception? thrown;
        long pendingWhileDown;
        try
        {
            thrown = await Record.ExceptionAsync(() => a.Cache.SetAsync("item:t", "new", tagged, ct).AsTask());
            pendingWhileDown = a.Tier.PendingInvalidations; // read before the server is back: the retry may land at once after
        }
        finally
        {
            server.Resume();
        }

        Assert.IsType<InvalidationFailedException>(thrown);
        Assert.Equal(1, pendingWhileDown);
        await Eventually.TrueAsync(() => a.Tier.PendingInvalidations == 0, TimeSpan.FromSeconds(10), "the queued invalidation never landed");
        await Eventually.TrueAsync(async () => await b.Cache.GetOrSetAsync("item:t", _ => ValueTask.FromResult("computed"), tagged, ct) != "old",
            TimeSpan.FromSeconds(5), "the other node kept the old value after the retry landed");
    }
}
