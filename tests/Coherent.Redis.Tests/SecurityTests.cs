using Coherent.SharedTier;
using Coherent.Redis.Storage;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

/// <summary>Key prefix isolation, HMAC signing, corrupt/foreign/aliased/oversized bytes as counted misses, options validation.</summary>
[Collection(RedisCollection.Name)]
public sealed class SecurityTests(SharedRedis redis)
{
    private static string Prefix() => KeyPrefix.New("s");

    [Fact]
    public async Task Two_applications_with_different_prefixes_never_see_each_other()
    {
        var server = redis.RequireAny();
        await using var shop = await Node.StartAsync(server.Endpoint, Prefix());
        await using var billing = await Node.StartAsync(server.Endpoint, Prefix());
        var ct = TestContext.Current.CancellationToken;
        await shop.Cache.SetAsync("item:1", "shop", cancellationToken: ct);
        Assert.Equal("billing", await billing.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("billing"), cancellationToken: ct));
        await billing.Cache.InvalidateAsync("item:1", ct);
        await shop.Cache.InvalidateTagAsync("whatever", ct);
        Assert.True(shop.HasLocal("item:1")); // billing's invalidation is not on shop's bus
        await using var shop2 = await Node.StartAsync(server.Endpoint, shop.Tier.Keys.Prefix);
        Assert.Equal("shop", await shop2.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("factory"), cancellationToken: ct));
    }

    [Fact]
    public async Task Entries_not_signed_with_the_shared_secret_are_refused_not_deserialized()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        var secret = "0123456789abcdef0123456789abcdef"u8.ToArray();
        await using var unsigned = await Node.StartAsync(server.Endpoint, prefix);
        await using var signed = await Node.StartAsync(server.Endpoint, prefix, o => o.SigningKey = secret);
        await using var other = await Node.StartAsync(server.Endpoint, prefix, o => o.SigningKey = "another-secret-of-32-bytes-long!"u8.ToArray());
        var ct = TestContext.Current.CancellationToken;

        await unsigned.Cache.SetAsync("item:u", "forged", cancellationToken: ct);
        Assert.Equal("honest", await signed.Cache.GetOrSetAsync("item:u", _ => ValueTask.FromResult("honest"), cancellationToken: ct));
        Assert.Equal(1, signed.Tier.Rejections[SharedTierEnvelopeRejection.Unsigned]);

        await signed.Cache.SetAsync("item:s", "signed", cancellationToken: ct);
        await using var signed2 = await Node.StartAsync(server.Endpoint, prefix, o => o.SigningKey = secret);
        Assert.Equal("signed", await signed2.Cache.GetOrSetAsync("item:s", _ => ValueTask.FromResult("factory"), cancellationToken: ct));
        Assert.Equal("mine", await other.Cache.GetOrSetAsync("item:s", _ => ValueTask.FromResult("mine"), cancellationToken: ct));
        Assert.Equal(1, other.Tier.Rejections[SharedTierEnvelopeRejection.Unsigned]);
    }

    [Fact]
    public async Task Corrupt_foreign_aliased_and_oversized_bytes_are_counted_misses()
    {
        var server = redis.RequireAny();
        var prefix = Prefix();
        await using var node = await Node.StartAsync(server.Endpoint, prefix, o => o.MaxPayloadBytes = 1000);
        var ct = TestContext.Current.CancellationToken;
        var db = (await server.ConnectAsync()).GetDatabase();
        var keys = node.Tier.Keys;

        await db.StringSetAsync(keys.Data("item:foreign"), "{\"json\":\"from another client\"}");
        await db.StringSetAsync(keys.Data("item:corrupt"), Truncated(SharedTierEnvelope.Write("item:corrupt", Data(new byte[100]), null)));
        await db.StringSetAsync(keys.Data("item:aliased"), SharedTierEnvelope.Write("item:other", Data(new byte[10]), null));
        await db.StringSetAsync(keys.Data("item:big"), SharedTierEnvelope.Write("item:big", Data(new byte[5000]), null));

        foreach (var key in new[] { "item:foreign", "item:corrupt", "item:aliased", "item:big" })
        {
            Assert.Equal("recomputed", await node.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("recomputed"), cancellationToken: ct));
        }

        Assert.Equal(1, node.Tier.Rejections[SharedTierEnvelopeRejection.Foreign]);
        Assert.Equal(1, node.Tier.Rejections[SharedTierEnvelopeRejection.Corrupt]);
        Assert.Equal(1, node.Tier.Rejections[SharedTierEnvelopeRejection.Aliased]);
        Assert.Equal(1, node.Tier.Rejections[SharedTierEnvelopeRejection.Oversized]);
        await Assert.ThrowsAsync<PayloadTooLargeException>(async () => await node.Cache.SetAsync("item:huge", new string('x', 5000), cancellationToken: ct));
    }

    [Fact]
    public void Invalid_options_are_all_listed_at_build()
    {
        var builder = new CoherentCacheBuilder().WithRedis("127.0.0.1:1", o =>
        {
            o.KeyPrefix = "bad {prefix}";
            o.HeartbeatInterval = TimeSpan.Zero;
            o.OperationTimeout = TimeSpan.FromMilliseconds(-5);
            o.SigningKey = new byte[3];
            o.MaxPayloadBytes = 0;
            o.BreakerFailureThreshold = 0;
            o.MaxKeysPerBatch = 0;
        });
        var error = Assert.Throws<CoherentConfigurationException>(() => builder.Build());
        Assert.Equal(7, error.Problems.Count(p => p.StartsWith("Redis", StringComparison.Ordinal)));
        Assert.Contains(error.Problems, p => p.Contains("MaxKeysPerBatch must be between 1 and 10,000; got 0", StringComparison.Ordinal));
        var bad = Assert.Throws<CoherentConfigurationException>(() => new CoherentCacheBuilder().WithRedis("127.0.0.1:6379,ssl=maybe").Build());
        Assert.Contains(bad.Problems, p => p.Contains("invalid", StringComparison.Ordinal));
    }

    [Fact]
    public void A_versioned_family_that_is_not_declared_is_refused_at_build()
    {
        // Undeclared families are resolved per node (tracked up to a cap, then pooled): some nodes would store the family as
        // versioned keys and others not, and neither would read what the other wrote.
        var builder = new CoherentCacheBuilder()
            .Define("product", p => p.MaxStaleness(TimeSpan.FromSeconds(1)))
            .WithRedis("127.0.0.1:1", o => { o.VersionedFamilies.Add("product"); o.VersionedFamilies.Add("prodcut"); });
        var error = Assert.Throws<CoherentConfigurationException>(() => builder.Build());
        var problem = Assert.Single(error.Problems);
        Assert.Contains("'prodcut' is not declared", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Envelope_round_trips_and_rejects_tampering()
    {
        var secret = new byte[32];
        var data = new SharedTierEnvelopeData(1, 2, 3, 4.5, 6, [("a", 7), ("béta", 8)], "payload"u8.ToArray());
        var bytes = SharedTierEnvelope.Write("k:1", data, secret);
        Assert.Equal(SharedTierEnvelopeRejection.None, SharedTierEnvelope.TryRead("k:1", bytes, secret, 100, out var read));
        Assert.Equal((1L, 2L, 3L, 4.5, 6L), (read.CreatedAtMs, read.ExpiresAtMs, read.Epoch, read.DeltaMs, read.ClearVersion));
        Assert.Equal(data.Tags, read.Tags);
        Assert.Equal("payload"u8.ToArray(), read.Payload.ToArray());
        bytes[^40] ^= 1;
        Assert.Equal(SharedTierEnvelopeRejection.Unsigned, SharedTierEnvelope.TryRead("k:1", bytes, secret, 100, out _));
        Assert.Equal(SharedTierEnvelopeRejection.Foreign, SharedTierEnvelope.TryRead("k:1", new byte[] { 1, 2, 3 }, null, 100, out _));
    }

    private static SharedTierEnvelopeData Data(byte[] payload) =>
        new(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 60_000, 0, 1, 0, null, payload);

    private static byte[] Truncated(byte[] bytes) => bytes[..^10];
}
