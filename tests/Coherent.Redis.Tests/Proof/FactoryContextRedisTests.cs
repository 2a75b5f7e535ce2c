using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// The factory with a context on Redis (issue 15, part 1): a tag it adds, whose version before the factory nobody read, is
/// fenced by this node's tag-bump count and the fleet's count of tag invalidations (<c>prefix:tagbumps</c>); its metadata
/// travels in the signed envelope.
/// </summary>
public sealed class FactoryContextRedisTests
{
    private static string NewPrefix() => KeyPrefix.New("fc");

    private static bool IsVersionMessage(string message) => message.StartsWith("T|", StringComparison.Ordinal) || message.StartsWith("C|", StringComparison.Ordinal);

    /// <summary>
    /// Without the fence the added tag is stamped with the version read at store time — after the bump — and the value
    /// computed before it is stored in L2 as current for every node. "Not delivered": the storing node never hears of the
    /// bump on the bus, and had never seen the tag, so its store reads the bumped version from Redis.
    /// </summary>
    [Theory]
    [InlineData("this node")]
    [InlineData("another node")]
    [InlineData("another node, not delivered")]
    public async Task A_tag_invalidated_while_the_factory_that_adds_it_runs_keeps_the_value_out_of_both_tiers(string invalidator)
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = NewPrefix();
        var undelivered = invalidator.EndsWith("not delivered", StringComparison.Ordinal);
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.DropIncomingMessage = m => undelivered && IsVersionMessage(m));
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await b.Cache.InvalidateTagAsync("catalog", ct); // the tag has a version in Redis; A has not read it

        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fill = a.Cache.GetOrSetAsync<string>("item:f", async (context, token) =>
        {
            entered.SetResult(); // the source is read here, before the invalidation
            await release.Task.WaitAsync(token);
            context.AddTags("catalog");
            return "old";
        }, cancellationToken: ct).AsTask();
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        await (invalidator == "this node" ? a : b).Cache.InvalidateTagAsync("catalog", ct);
        if (invalidator == "another node")
        {
            await Eventually.TrueAsync(() => a.Tier.KnownTagVersion("catalog") > 0, TimeSpan.FromSeconds(5), "the bump's message never reached A");
        }

        release.SetResult();
        Assert.Equal("old", await fill); // its caller asked before the invalidation: either value is fine for it

        await using var c = await Node.StartAsync(server.Endpoint, prefix); // an empty L1: what L2 holds
        Assert.Equal("new", await c.Cache.GetOrSetAsync("item:f", _ => ValueTask.FromResult("new"), cancellationToken: ct));
        if (!undelivered)
        {
            Assert.Equal("new", await a.Cache.GetOrSetAsync("item:f", _ => ValueTask.FromResult("new"), cancellationToken: ct));
        }
    }

    [Fact]
    public async Task A_value_with_added_tags_is_shared_and_an_invalidation_of_an_added_tag_drops_it_on_every_node()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = NewPrefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal("v1", await a.Cache.GetOrSetAsync<string>("item:g", (context, _) =>
        {
            context.AddTags("catalog");
            return ValueTask.FromResult("v1");
        }, cancellationToken: ct));
        Assert.Equal("v1", await b.Cache.GetOrSetAsync("item:g", _ => ValueTask.FromResult("b's"), cancellationToken: ct)); // from L2

        await b.Cache.InvalidateTagAsync("catalog", ct);
        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal("v2", await c.Cache.GetOrSetAsync("item:g", _ => ValueTask.FromResult("v2"), cancellationToken: ct));
        Assert.Equal("v2", await b.Cache.GetOrSetAsync("item:g", _ => ValueTask.FromResult("v2"), cancellationToken: ct));
        await Eventually.TrueAsync(() => !a.HasLocal("item:g") || a.Cache.Diagnostics.LocalEntry("item:g")!.TagsCurrent() == false, TimeSpan.FromSeconds(5), "A kept the value");
    }

    [Fact]
    public async Task Metadata_travels_in_the_signed_envelope_to_another_node()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = NewPrefix();
        var secret = new byte[32];
        Random.Shared.NextBytes(secret);
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.SigningKey = secret);
        await using var b = await Node.StartAsync(server.Endpoint, prefix, o => o.SigningKey = secret);
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.GetOrSetAsync<string>("item:m", (context, _) =>
        {
            context.Metadata = "\"etag-1\"";
            return ValueTask.FromResult("body");
        }, cancellationToken: ct);

        Assert.Equal("body", await b.Cache.GetOrSetAsync("item:m", _ => ValueTask.FromResult("b's"), cancellationToken: ct));
        Assert.Equal("\"etag-1\"", b.Cache.Diagnostics.LocalEntry("item:m")!.Metadata); // B checked the signature over it
        Assert.DoesNotContain(b.Tier.Rejections, r => r.Value > 0);
    }
}
