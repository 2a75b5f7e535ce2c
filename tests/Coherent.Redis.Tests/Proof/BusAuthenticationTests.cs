using Coherent.SharedTier;
using System.Collections.Concurrent;
using System.Globalization;
using Coherent.Redis.Storage;
using Coherent.Redis.Tests.Infrastructure;
using StackExchange.Redis;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Issue 11, hole 10: whoever may PUBLISH on the channel (the application's own ACL grants it) or write its keys. Without a
/// signing key the bus refuses what no honest node sends (a heartbeat from the future, a version out of range) and every
/// version read from Redis is parsed defensively; with one, every frame is MAC'd and replays are dropped, and an envelope
/// older than its key's epoch is never served. A forged frame is followed by a marker frame from the same connection
/// (pub/sub keeps one connection's order), so "the node has handled the forgery" is observed, not slept on.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class BusAuthenticationTests(SharedRedis redis)
{
    private static readonly byte[] Secret = "0123456789abcdef0123456789abcdef"u8.ToArray();

    private static string Prefix() => KeyPrefix.New("b");

    /// <summary>Publishes <paramref name="frames"/> as an outsider would, then a marker, and waits until <paramref name="seen"/> saw the marker.</summary>
    private static async Task PublishAsync(RedisProcess server, Node node, Marker seen, params string[] frames)
    {
        await using var outsider = await server.ConnectAsync();
        var marker = "F|marker-" + Guid.NewGuid().ToString("N");
        foreach (var frame in frames.Append(marker))
        {
            await outsider.GetSubscriber().PublishAsync(node.Tier.Keys.Channel, frame);
        }

        await Eventually.TrueAsync(() => seen.Contains(marker), TimeSpan.FromSeconds(5), "the marker frame never arrived");
    }

    private static long Rejected(Node node, string reason) => node.Tier.RejectedFrames.GetValueOrDefault(reason);

    [Fact]
    public async Task A_forged_own_heartbeat_from_the_future_is_refused_and_counted_and_staleness_stays_bounded()
    {
        var server = redis.Require();
        var prefix = Prefix();
        var seen = new Marker();
        var cut = false;
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.DropIncomingMessage = text => seen.Saw(text) || (Volatile.Read(ref cut) && !text.EndsWith("|777777777", StringComparison.Ordinal)));
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: ct));

        // A's bus goes dead (everything dropped), B invalidates, and an outsider vouches for A with a heartbeat an hour ahead.
        Volatile.Write(ref cut, true);
        source.Bump();
        await b.Cache.InvalidateAsync("item:1", ct);
        var future = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await PublishAsync(server, a, seen, string.Create(CultureInfo.InvariantCulture, $"H|{a.Tier.SenderId}|0|{future}|1|777777777"));

        await Task.Delay(Node.MaxStaleness + TimeSpan.FromMilliseconds(300), ct);
        Assert.Equal(2, await a.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: ct));
        Assert.Equal(1, Rejected(a, "future_heartbeat"));
    }

    [Fact]
    public async Task A_replayed_old_own_heartbeat_does_not_end_an_outage()
    {
        var server = redis.Require();
        var prefix = Prefix();
        var seen = new Marker();
        string? replay = null;
        var cut = false;
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.DropIncomingMessage = text =>
            seen.Saw(text) || (Volatile.Read(ref cut) && text != Volatile.Read(ref replay)));
        var ct = TestContext.Current.CancellationToken;
        var ownHeartbeat = "H|" + a.Tier.SenderId + "|";
        await Eventually.TrueAsync(() => seen.Any(t => t.StartsWith(ownHeartbeat, StringComparison.Ordinal)), TimeSpan.FromSeconds(2), "no own heartbeat seen");
        var old = seen.First(t => t.StartsWith(ownHeartbeat, StringComparison.Ordinal));

        Volatile.Write(ref cut, true); // A's bus goes silent: its own heartbeats stop coming back
        await Eventually.TrueAsync(() => a.Tier.Bus!.Suspect, TimeSpan.FromSeconds(2), "A never noticed the outage");
        Volatile.Write(ref replay, old);
        await PublishAsync(server, a, seen, old);

        Assert.True(a.Tier.Bus!.Suspect, "a replayed heartbeat ended the outage");
        Assert.Equal(1, Rejected(a, "replayed"));
    }

    [Fact]
    public async Task Without_a_signing_key_a_forged_tag_version_of_2_to_the_60_is_refused_and_later_tag_invalidations_still_work()
    {
        var server = redis.Require();
        var prefix = Prefix();
        var seen = new Marker();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.DropIncomingMessage = seen.Saw);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var tagged = new CacheEntryOptions { Tags = ["cat"] };
        var source = new Source();
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:t", source.ReadAsync, tagged, ct)); // A knows the tag

        await PublishAsync(server, a, seen, "T|forger|1|cat|1152921504606846976");

        // Tag invalidations are lazy (a version check on read): B's reads show whether each one reached it.
        for (var round = 0; round < 3; round++)
        {
            Assert.Equal(source.Version, await b.Cache.GetOrSetAsync("item:t", source.ReadAsync, tagged, ct));
            source.Bump();
            await a.Cache.InvalidateTagAsync("cat", ct);
            await Eventually.TrueAsync(async () => await b.Cache.GetOrSetAsync("item:t", source.ReadAsync, tagged, ct) == source.Version, TimeSpan.FromSeconds(2),
                $"tag invalidation {round} did not reach B");
        }

        var db = (await server.ConnectAsync()).GetDatabase();
        Assert.InRange((long)await db.StringGetAsync(a.Tier.Keys.Tag("cat")), 1, 9_007_199_254_740_991); // an integer Lua counts exactly
        Assert.Equal(1, Rejected(a, "version_out_of_range"));
    }

    [Fact]
    public async Task Non_integer_and_out_of_range_versions_in_redis_are_refused_and_logged_and_reads_and_writes_keep_working()
    {
        var server = redis.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var db = (await server.ConnectAsync()).GetDatabase();
        var keys = a.Tier.Keys;
        await db.StringSetAsync(keys.Epoch("item:e"), "not-a-number");
        await db.StringSetAsync(keys.Tag("cat"), "1.5e300");
        await db.StringSetAsync(keys.Tag("big"), "1152921504606846976");
        var tagged = new CacheEntryOptions { Tags = ["cat", "big"] };

        for (var i = 0; i < 10; i++)
        {
            a.Cache.Diagnostics.DropAllLocal();
            Assert.Equal(i, await a.Cache.GetOrSetAsync("item:e", _ => ValueTask.FromResult(i), cancellationToken: ct));
            Assert.Equal(i, await a.Cache.GetOrSetAsync("item:t" + i, _ => ValueTask.FromResult(i), tagged, ct));
        }

        Assert.Equal(0, a.Logs.Count(2010)); // refused, never a failed read
        Assert.False(a.Tier.Breaker.IsOpen);
        Assert.True(a.Logs.Count(2017) > 0, "the refused versions were not logged");
        Assert.True(a.Tier.Rejections.GetValueOrDefault(SharedTierEnvelopeRejection.BadVersion) > 0);

        // Writes repair what they bump: the key, the tags and the clear work again, with versions Lua counts exactly.
        await a.Cache.InvalidateAsync("item:e", ct);
        await a.Cache.InvalidateTagAsync("cat", ct);
        await a.Cache.InvalidateTagAsync("big", ct);
        await a.Cache.InvalidateTagAsync("big", ct);
        Assert.InRange((long)await db.StringGetAsync(keys.Tag("cat")), 1, 9_007_199_254_740_991);
        Assert.InRange((long)await db.StringGetAsync(keys.Tag("big")), 1, 9_007_199_254_740_991);
        Assert.InRange((long)await db.StringGetAsync(keys.Epoch("item:e")), 1, (1L << 53) - 1);
        Assert.Equal(0, a.Cache.PendingInvalidations);
    }

    [Fact]
    public async Task With_a_signing_key_a_captured_envelope_written_back_after_an_invalidation_is_not_served()
    {
        var server = redis.Require();
        var prefix = Prefix();
        static void Signed(CoherentRedisOptions o)
        {
            o.SigningKey = Secret;
            o.VersionedFamilies.Add("product");
        }

        await using var a = await Node.StartAsync(server.Endpoint, prefix, Signed);
        await using var b = await Node.StartAsync(server.Endpoint, prefix, Signed);
        var ct = TestContext.Current.CancellationToken;
        var db = (await server.ConnectAsync()).GetDatabase();
        Assert.Equal("v1", await a.Cache.GetOrSetAsync("item:c", _ => ValueTask.FromResult("v1"), cancellationToken: ct));
        var captured = (byte[])(await db.StringGetAsync(a.Tier.Keys.Data("item:c")))!;

        await a.Cache.InvalidateAsync("item:c", ct);
        await db.StringSetAsync(a.Tier.Keys.Data("item:c"), captured, TimeSpan.FromMinutes(1));

        Assert.Equal("v2", await b.Cache.GetOrSetAsync("item:c", _ => ValueTask.FromResult("v2"), cancellationToken: ct));
        Assert.Equal(1, b.Tier.Rejections.GetValueOrDefault(SharedTierEnvelopeRejection.OlderThanEpoch));

        // A write-through's value is still an L2 hit for the other nodes (stamped with the epoch its own write made).
        await a.Cache.SetAsync("item:s", "written", cancellationToken: ct);
        Assert.Equal("written", await b.Cache.GetOrSetAsync("item:s", _ => ValueTask.FromResult("factory"), cancellationToken: ct));
        await a.Cache.SetAsync("product:1", "versioned", cancellationToken: ct);
        Assert.Equal("versioned", await b.Cache.GetOrSetAsync("product:1", _ => ValueTask.FromResult("factory"), cancellationToken: ct));
        Assert.Equal(1, b.Tier.Rejections.GetValueOrDefault(SharedTierEnvelopeRejection.OlderThanEpoch));
    }

    [Fact]
    public async Task With_a_signing_key_frames_without_a_valid_MAC_are_dropped_and_counted()
    {
        var server = redis.Require();
        var prefix = Prefix();
        var seen = new Marker();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.SigningKey = Secret);
        await using var b = await Node.StartAsync(server.Endpoint, prefix, o =>
        {
            o.SigningKey = Secret;
            o.DropIncomingMessage = seen.Saw;
        });
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal("v", await b.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("v"), new CacheEntryOptions { Tags = ["cat"] }, ct));

        var mac = new string('A', 43) + "=";
        await PublishAsync(server, b, seen, "I|forger|1|0|item:1", "#" + mac + "I|forger|2|0|item:1", "T|forger|3|cat|99", "C|forger|4|99");
        Assert.True(b.HasLocal("item:1"), "a forged invalidation was obeyed");
        Assert.Equal(5, Rejected(b, "unsigned")); // the four forgeries and the outsider's unsigned marker

        await a.Cache.InvalidateAsync("item:1", ct);
        await Eventually.TrueAsync(() => !b.HasLocal("item:1"), TimeSpan.FromSeconds(2), "a signed invalidation was not obeyed");
    }

    [Fact]
    public async Task With_a_signing_key_replayed_frames_are_dropped_and_counted()
    {
        var server = redis.Require();
        var prefix = Prefix();
        var seen = new Marker();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.SigningKey = Secret);
        await using var b = await Node.StartAsync(server.Endpoint, prefix, o =>
        {
            o.SigningKey = Secret;
            o.DropIncomingMessage = seen.Saw;
        });
        var ct = TestContext.Current.CancellationToken;
        await using var spy = await server.ConnectAsync();
        var captured = new ConcurrentQueue<string>();
        await spy.GetSubscriber().SubscribeAsync(a.Tier.Keys.Channel, (_, m) => captured.Enqueue(m!));

        await a.Cache.InvalidateAsync("item:1", ct);
        await Eventually.TrueAsync(() => captured.Any(f => f.Contains("I|" + a.Tier.SenderId, StringComparison.Ordinal)), TimeSpan.FromSeconds(2), "the spy saw no invalidation");
        var frame = captured.First(f => f.Contains("I|" + a.Tier.SenderId, StringComparison.Ordinal));
        await Eventually.TrueAsync(() => seen.Contains(frame), TimeSpan.FromSeconds(2), "B never got the invalidation");
        Assert.Equal("v", await b.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("v"), cancellationToken: ct));

        await PublishAsync(server, b, seen, frame);
        Assert.True(b.HasLocal("item:1"), "a replayed invalidation was obeyed");
        Assert.Equal(1, Rejected(b, "replayed"));
    }

    /// <summary>Records the frames a node received (through its drop hook, which sees every frame first).</summary>
    private sealed class Marker
    {
        private readonly ConcurrentDictionary<string, bool> _seen = new(StringComparer.Ordinal);

        public bool Saw(string text)
        {
            _seen[text] = true;
            return false;
        }

        public bool Contains(string text) => _seen.ContainsKey(text);

        public bool Any(Func<string, bool> match) => _seen.Keys.Any(match);

        public string First(Func<string, bool> match) => _seen.Keys.First(match);
    }
}
