using Coherent.SharedTier;
using System.Diagnostics;
using Coherent.Redis.Storage;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// The bad-input catalogue of issue 5 where the shared tier is involved (docs/guarantees.md). Foreign, unsigned, aliased and
/// oversized bytes and the payload limit on write are in SecurityTests; these add truncation at every length, bit rot,
/// hash-tag characters in keys, unpaired surrogates, unserializable and oversized factory results, null values,
/// cancellation at the L2 await points and disposal with L2 calls in flight.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class BadInputRedisTests(SharedRedis redis)
{
    private static string Prefix() => KeyPrefix.New("i");

    private static SharedTierEnvelopeData Data(byte[] payload, (string, long)[]? tags = null) =>
        new(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 60_000, 3, 1, 0, tags, payload);

    [Fact]
    public void Every_truncation_of_an_envelope_is_refused_and_never_throws()
    {
        var secret = new byte[32];
        foreach (var signingKey in new[] { null, secret })
        {
            var bytes = SharedTierEnvelope.Write("item:1", Data("\"value\""u8.ToArray(), [("catalog", 4), ("x", 1)]), signingKey);
            for (var length = 0; length < bytes.Length; length++)
            {
                var rejection = SharedTierEnvelope.TryRead("item:1", bytes.AsMemory(0, length), signingKey, 1000, out _);
                Assert.NotEqual(SharedTierEnvelopeRejection.None, rejection);
            }

            Assert.Equal(SharedTierEnvelopeRejection.None, SharedTierEnvelope.TryRead("item:1", bytes, signingKey, 1000, out _));
        }
    }

    [Fact]
    public void With_a_signing_key_every_single_bit_flip_is_refused_and_without_one_payload_rot_is_not_detected()
    {
        var secret = "0123456789abcdef0123456789abcdef"u8.ToArray();
        var signed = SharedTierEnvelope.Write("item:1", Data("42"u8.ToArray(), [("catalog", 4)]), secret);
        for (var bit = 0; bit < signed.Length * 8; bit++)
        {
            var copy = (byte[])signed.Clone();
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.NotEqual(SharedTierEnvelopeRejection.None, SharedTierEnvelope.TryRead("item:1", copy, secret, 1000, out _));
        }

        // Documented: the envelope has no checksum of its own. Unsigned, a flipped payload bit ("42" → "43") reads as a
        // different value; deployments that need integrity against bit rot or tampering set SigningKey.
        var unsigned = SharedTierEnvelope.Write("item:1", Data("42"u8.ToArray()), null);
        unsigned[^1] ^= 0x01;
        Assert.Equal(SharedTierEnvelopeRejection.None, SharedTierEnvelope.TryRead("item:1", unsigned, null, 1000, out var rotten));
        Assert.Equal("43"u8.ToArray(), rotten.Payload.ToArray());
    }

    [Fact]
    public void Random_garbage_is_refused_and_never_throws()
    {
        var random = new Random(5);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            if (bytes.Length > 3 && i % 2 == 0)
            {
                bytes[0] = (byte)'C';
                bytes[1] = (byte)'H';
                bytes[2] = SharedTierEnvelope.FormatVersion; // past the magic: the structural checks must hold on their own
            }

            var rejection = SharedTierEnvelope.TryRead("item:1", bytes, null, 1000, out _);
            // Every length: past the structure, random bytes would still have to carry this key's binding.
            Assert.True(rejection != SharedTierEnvelopeRejection.None, $"garbage of {bytes.Length} bytes accepted: {Convert.ToHexString(bytes)}");
        }
    }

    [Fact]
    public async Task Truncated_L2_bytes_in_a_real_server_are_counted_misses_and_the_recompute_repairs_them()
    {
        var server = redis.Require();
        var prefix = Prefix();
        await using var node = await Node.StartAsync(server.Endpoint, prefix);
        await using var writer = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await writer.Cache.SetAsync("item:t", "good", cancellationToken: ct);
        var db = (await server.ConnectAsync()).GetDatabase();
        var key = node.Tier.Keys.Data("item:t");
        var full = (byte[])(await db.StringGetAsync(key))!;

        foreach (var length in new[] { 0, 1, 3, 20, 57, full.Length / 2, full.Length - 1 })
        {
            await db.StringSetAsync(key, full.AsMemory(0, length).ToArray(), TimeSpan.FromMinutes(1));
            node.Cache.Diagnostics.DropAllLocal();
            Assert.Equal("recomputed", await node.Cache.GetOrSetAsync("item:t", _ => ValueTask.FromResult("recomputed"), cancellationToken: ct));
        }

        Assert.Equal(7, node.Tier.Rejections.Values.Sum());
        Assert.Equal(0, node.Logs.Events.Count(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error));
    }

    [Fact]
    public async Task Hash_tag_braces_and_odd_separators_in_keys_round_trip_across_nodes_without_aliasing()
    {
        var server = redis.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        string[] keys = ["item:{x}", "item:}{", "item:{}", "item:{", "item:}", "item:}:d", "item:x}:e", "item::", "item:", "item:a:b", "item:😀", "item: "];
        for (var i = 0; i < keys.Length; i++)
        {
            await a.Cache.SetAsync(keys[i], i, cancellationToken: ct);
        }

        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(i, await b.Cache.GetOrSetAsync(keys[i], _ => ValueTask.FromResult(-1), cancellationToken: ct));
        }

        await a.Cache.InvalidateAsync("item:{x}", ct);
        await Eventually.TrueAsync(() => !b.HasLocal("item:{x}"), TimeSpan.FromSeconds(2), "B kept item:{x}");
        Assert.True(b.HasLocal("item:}{") && b.HasLocal("item:{}"));
        Assert.Equal(0, b.Tier.Rejections.Values.Sum());
    }

    [Fact]
    public async Task Unpaired_surrogates_are_refused_so_two_keys_never_share_one_redis_key()
    {
        var server = redis.Require();
        await using var a = await Node.StartAsync(server.Endpoint, Prefix());
        var ct = TestContext.Current.CancellationToken;
        await Assert.ThrowsAsync<ArgumentException>(async () => await a.Cache.SetAsync("item:\uD800", "first", cancellationToken: ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await a.Cache.GetOrSetAsync("item:\uDBFF", _ => ValueTask.FromResult("second"), cancellationToken: ct));
        Assert.Equal("pair", await a.Cache.GetOrSetAsync("item:\uD83D\uDE00", _ => ValueTask.FromResult("pair"), cancellationToken: ct));
    }

    [Fact]
    public async Task Unserializable_or_oversized_factory_results_never_reach_L2_and_free_the_lease()
    {
        var server = redis.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.MaxPayloadBytes = 1000);
        await using var b = await Node.StartAsync(server.Endpoint, prefix, o => o.MaxPayloadBytes = 1000);
        var ct = TestContext.Current.CancellationToken;

        await Assert.ThrowsAsync<CacheSerializationException>(async () => await a.Cache.GetOrSetAsync<Action>("item:delegate", _ => ValueTask.FromResult<Action>(() => { }), cancellationToken: ct));
        Assert.False(a.HasLocal("item:delegate"));

        // Over the Redis payload limit (but under the cache's own): the caller gets the value, it is kept in this node's L1
        // only, and never reaches Redis (SetAsync of such a value throws PayloadTooLargeException: SecurityTests).
        Assert.Equal(5000, (await a.Cache.GetOrSetAsync("item:big", _ => ValueTask.FromResult(new string('x', 5000)), cancellationToken: ct)).Length);
        Assert.False(await (await server.ConnectAsync()).GetDatabase().KeyExistsAsync(a.Tier.Keys.Data("item:big")));

        // The lease was released with the failure: another node computes at once instead of waiting out the lease.
        var watch = Stopwatch.StartNew();
        Assert.Equal("small", await b.Cache.GetOrSetAsync("item:big", _ => ValueTask.FromResult("small"), cancellationToken: ct));
        Assert.True(watch.ElapsedMilliseconds < 500, $"B waited {watch.ElapsedMilliseconds} ms for a lease that should have been released");
        Assert.Equal(0, a.Cache.Diagnostics.FlightCount);
    }

    [Fact]
    public async Task A_null_value_is_a_value_cached_in_L2_like_any_other()
    {
        var server = redis.Require();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        Assert.Null(await a.Cache.GetOrSetAsync<string?>("item:null", _ => ValueTask.FromResult<string?>(null), cancellationToken: ct));
        Assert.Null(await b.Cache.GetOrSetAsync<string?>("item:null", _ => ValueTask.FromResult<string?>("factory ran"), cancellationToken: ct));
    }

    [Fact]
    public async Task Cancellation_at_the_L2_await_points_returns_promptly_and_leaves_entries_intact()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = Prefix();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.OperationTimeout = TimeSpan.FromSeconds(5));
        await using var b = await Node.StartAsync(server.Endpoint, prefix, o => o.OperationTimeout = TimeSpan.FromSeconds(5));
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.SetAsync("item:kept", "kept", cancellationToken: ct);

        // 1. Waiting for another node's lease: B's caller cancels while A computes.
        var release = new TaskCompletionSource();
        var holder = a.Cache.GetOrSetAsync("item:lease", async _ => { await release.Task; return "a"; }, cancellationToken: ct).AsTask();
        await Eventually.TrueAsync(async () => (await (await server.ConnectAsync()).GetDatabase().KeyExistsAsync(a.Tier.Keys.Lease("item:lease"))), TimeSpan.FromSeconds(5), "A never took the lease");
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
        {
            var watch = Stopwatch.StartNew();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await b.Cache.GetOrSetAsync("item:lease", _ => ValueTask.FromResult("b"), cancellationToken: cts.Token));
            Assert.True(watch.ElapsedMilliseconds < 1000, $"cancel took {watch.ElapsedMilliseconds} ms");
        }

        release.SetResult();
        Assert.Equal("a", await holder);
        Assert.Equal("a", await b.Cache.GetOrSetAsync("item:lease", _ => ValueTask.FromResult("b"), cancellationToken: ct));

        // 2. An L2 read that hangs (server frozen, 5 s operation timeout): the caller's token ends the wait.
        server.Pause();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            var watch = Stopwatch.StartNew();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await b.Cache.GetOrSetAsync("item:frozen", _ => ValueTask.FromResult("b"), cancellationToken: cts.Token));
            Assert.True(watch.ElapsedMilliseconds < 1000, $"cancel took {watch.ElapsedMilliseconds} ms");
            using var cts2 = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await b.Cache.SetAsync("item:frozen", "x", cancellationToken: cts2.Token));
        }
        finally
        {
            server.Resume();
        }

        Assert.Equal("kept", await b.Cache.GetOrSetAsync("item:kept", _ => ValueTask.FromResult("factory"), cancellationToken: ct));

        // The flight the frozen read's caller abandoned runs on once the server answers (its read, factory and fill), and
        // a flight leaves the table just after handing over its result: none may stay. (Asserted at once, this failed in
        // two full-suite runs, one flight left, 460 ms into the test.)
        await Eventually.TrueAsync(() => b.Cache.Diagnostics.FlightCount == 0, TimeSpan.FromSeconds(5), $"{b.Cache.Diagnostics.FlightCount} flight(s) never left the table");
    }

    [Fact]
    public async Task An_invalidation_cancelled_by_its_caller_while_redis_is_unreachable_is_still_retried_until_it_lands()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        await using var proxy = new PartitionProxy(() => server.Endpoint);
        var prefix = Prefix();
        await using var a = await Node.StartAsync(proxy.Endpoint, prefix, o => o.OperationTimeout = TimeSpan.FromSeconds(2));
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        foreach (var key in new[] { "item:x", "item:y" })
        {
            await a.Cache.SetAsync(key, "old", cancellationToken: ct);
            Assert.Equal("old", await b.Cache.GetOrSetAsync(key, _ => ValueTask.FromResult("factory"), cancellationToken: ct));
        }

        // A is cut off from Redis (B is not): the writer gives up before the operation timeout.
        proxy.Partition();
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await a.Cache.InvalidateAsync("item:x", cts.Token));
        }

        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await a.Cache.SetAsync("item:y", "new", cancellationToken: cts.Token));
        }

        // Not silent (guarantee 5): pending, and retried until it lands once the network heals (the bytes in flight are lost).
        Assert.Equal(2, a.Cache.PendingInvalidations);
        proxy.Heal();
        await Eventually.TrueAsync(() => !b.HasLocal("item:x") && !b.HasLocal("item:y"), TimeSpan.FromSeconds(15), "the cancelled invalidation never reached B");
        await Eventually.TrueAsync(() => a.Cache.PendingInvalidations == 0, TimeSpan.FromSeconds(15), "the retry never landed");
        Assert.Equal("fresh", await b.Cache.GetOrSetAsync("item:x", _ => ValueTask.FromResult("fresh"), cancellationToken: ct));
    }

    [Fact]
    public async Task Disposal_with_L2_calls_in_flight_finishes_promptly()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var node = await Node.StartAsync(server.Endpoint, Prefix(), o => o.OperationTimeout = TimeSpan.FromSeconds(2));
        var ct = TestContext.Current.CancellationToken;
        server.Pause();
        try
        {
            var calls = Enumerable.Range(0, 5).Select(i => node.Cache.GetOrSetAsync("item:" + i, _ => ValueTask.FromResult(i), cancellationToken: ct).AsTask()).ToList();
            var watch = Stopwatch.StartNew();
            await node.Cache.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5), ct);
            var disposeMs = watch.ElapsedMilliseconds;
            foreach (var call in calls)
            {
                try
                {
                    Assert.InRange(await call.WaitAsync(TimeSpan.FromSeconds(5), ct), 0, 4);
                }
                catch (ObjectDisposedException)
                {
                }
            }

            TestContext.Current.SendDiagnosticMessage($"dispose with 5 L2 reads in flight on a frozen server: {disposeMs} ms, callers done after {watch.ElapsedMilliseconds} ms");
            Assert.Equal(0, node.Cache.LocalCount);
        }
        finally
        {
            server.Resume();
            await node.Connection.DisposeAsync();
        }
    }
}
