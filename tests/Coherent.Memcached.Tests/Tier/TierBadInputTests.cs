using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>Oversized values, foreign and corrupt bytes, and hostile keys through the cache.</summary>
public sealed class TierBadInputTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_oversized_write_is_refused_with_PayloadTooLargeException_before_anything_is_sent()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = McNode.Start(server.Endpoint, KeyPrefix.New("big"), o => o.MaxItemBytes = 64 * 1024);
        var sets = await server.StatAsync("cmd_set", Ct);
        var big = new string('x', 100 * 1024); // under the cache's payload limit, over Memcached's item limit

        await Assert.ThrowsAsync<PayloadTooLargeException>(() => a.Cache.SetAsync("item:big", big, cancellationToken: Ct).AsTask());

        Assert.Equal(sets, await server.StatAsync("cmd_set", Ct));
        Assert.Equal(0, a.Tier.PendingInvalidations);
    }

    [Fact]
    public async Task An_oversized_fill_is_kept_locally_and_its_lease_released()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("bigfill");
        await using var a = McNode.Start(server.Endpoint, prefix, o => o.MaxItemBytes = 64 * 1024);
        await using var b = McNode.Start(server.Endpoint, prefix, o => o.MaxItemBytes = 64 * 1024);
        var big = new string('y', 100 * 1024);
        Assert.Equal(big.Length, (await a.Cache.GetOrSetAsync("item:bf", _ => ValueTask.FromResult(big), cancellationToken: Ct)).Length);
        Assert.Equal(1, a.Logs.Count(4005));

        // The lease was released (its placeholder deleted), so nobody waits for a fill that will never come.
        Assert.Equal(ReadOutcome.Miss, (await a.Store.ReadAsync("item:bf", LeaseOptions.None, Ct)).Outcome);
        Assert.Equal("small", await b.Cache.GetOrSetAsync("item:bf", _ => ValueTask.FromResult("small"), cancellationToken: Ct));
    }

    [Fact]
    public async Task Foreign_or_corrupt_bytes_under_a_key_are_a_counted_miss_and_are_replaced()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("foreign");
        await using var a = McNode.Start(server.Endpoint, prefix);
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:f", _ => ValueTask.FromResult(1), cancellationToken: Ct));

        // Another program writes under the same Memcached key: first a well-framed value that is not an envelope...
        await a.Store.WriteAsync("item:f", "not an envelope"u8.ToArray(), TimeSpan.FromMinutes(1), Ct);
        await using (var b = McNode.Start(server.Endpoint, prefix))
        {
            Assert.Equal(2, await b.Cache.GetOrSetAsync("item:f", _ => ValueTask.FromResult(2), cancellationToken: Ct));
            Assert.Equal(1, b.Tier.Rejections.GetValueOrDefault(SharedTierEnvelopeRejection.Foreign));
        }

        // ...then bytes that are not even the store's framing.
        var wire = System.Text.Encoding.ASCII.GetString(a.Store.DataKey("item:f"));
        Assert.Contains("HD", await server.ExecAsync($"ms {wire} 3 b T60\r\nabc", "HD", Ct));
        await using (var c = McNode.Start(server.Endpoint, prefix))
        {
            Assert.Equal(3, await c.Cache.GetOrSetAsync("item:f", _ => ValueTask.FromResult(3), cancellationToken: Ct));
            Assert.Equal(1, c.Tier.Rejections.GetValueOrDefault(SharedTierEnvelopeRejection.Corrupt));
        }

        await using var d = McNode.Start(server.Endpoint, prefix);
        Assert.Equal(3, await d.Cache.GetOrSetAsync("item:f", _ => ValueTask.FromResult(4), cancellationToken: Ct)); // replaced by the recompute
    }

    [Theory]
    [InlineData("spaces in the key")]
    [InlineData("ctrl\r\nmg evil v\r\n")]
    [InlineData("nul\0byte")]
    [InlineData("ünïcødé ✓")]
    public async Task A_hostile_key_never_breaks_the_text_protocol(string suffix)
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("hostile");
        await using var a = McNode.Start(server.Endpoint, prefix);
        var key = new SharedTierKey("item:" + suffix, "item");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var entry = new SharedTierEntry { Payload = "v"u8.ToArray(), CreatedAtMs = now, ExpiresAtMs = now + 60_000 };

        // The tier itself (the cache refuses control characters before they reach it): any key is sent base64-encoded.
        var miss = await a.Tier.ReadAsync(key, Ct);
        Assert.True(await a.Tier.StoreIfEpochAsync(key, entry, miss.Epoch, null, Ct));
        Assert.True((await a.Tier.ReadAsync(key, Ct)).Found);
        await a.Tier.InvalidateAsync(key, Ct);
        Assert.False((await a.Tier.LookupAsync(key, Ct)).Found);
        Assert.Equal("w", await a.Cache.GetOrSetAsync("item:plain", _ => ValueTask.FromResult("w"), cancellationToken: Ct)); // still in step
        Assert.Equal(SharedTierState.Healthy, a.Tier.State);
    }

    [Theory]
    [InlineData("spaces in the key")]
    [InlineData("ünïcødé ✓")]
    public async Task A_key_with_spaces_or_unicode_works_through_the_cache_on_every_node(string suffix)
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("odd");
        await using var a = McNode.Start(server.Endpoint, prefix);
        await using var b = McNode.Start(server.Endpoint, prefix);
        Assert.Equal("v", await a.Cache.GetOrSetAsync("item:" + suffix, _ => ValueTask.FromResult("v"), cancellationToken: Ct));
        Assert.Equal("v", await b.Cache.GetOrSetAsync("item:" + suffix, _ => ValueTask.FromResult("other"), cancellationToken: Ct));
    }

    [Fact]
    public async Task Two_10_KB_keys_sharing_a_hashed_Memcached_key_never_alias()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("long");
        static void LongKeys(CoherentCacheBuilder b) => b.WithMaxKeyLength(16 * 1024);
        await using var a = McNode.Start(server.Endpoint, prefix, build: LongKeys);
        var k1 = "item:" + new string('a', 10_000) + "1";
        var k2 = "item:" + new string('a', 10_000) + "2";

        Assert.Equal(1, await a.Cache.GetOrSetAsync(k1, _ => ValueTask.FromResult(1), cancellationToken: Ct));
        Assert.Equal(2, await a.Cache.GetOrSetAsync(k2, _ => ValueTask.FromResult(2), cancellationToken: Ct));
        await using var b = McNode.Start(server.Endpoint, prefix, build: LongKeys);
        Assert.Equal(1, await b.Cache.GetOrSetAsync(k1, _ => ValueTask.FromResult(-1), cancellationToken: Ct));
        Assert.Equal(2, await b.Cache.GetOrSetAsync(k2, _ => ValueTask.FromResult(-2), cancellationToken: Ct));
    }
}
