using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Coherent.Redis.Tests.Infrastructure;
using StackExchange.Redis;

namespace Coherent.Redis.Tests;

/// <summary>
/// The L2 read: a plain hit is one GET of the data key and carries the epoch its value was stored under; anything else
/// reads the key's current epoch, so the recompute is fenced by it and replaces what was there. Bounded by the operation
/// timeout and counted by the circuit breaker.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class L2ReadTests(SharedRedis redis)
{
    private static string Prefix() => KeyPrefix.New("r");

    [Fact]
    public async Task A_plain_hit_is_one_GET_and_carries_the_epoch_its_value_was_stored_under()
    {
        var server = redis.Require();
        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        await using var writer = await Node.StartAsync(server.Endpoint, prefix);
        await using var reader = await Node.StartAsync(server.Endpoint, prefix);
        var family = reader.Cache.Families.Resolve("item:1");

        // A fill (stored by the fenced script) carries the current epoch.
        await writer.Cache.InvalidateAsync("item:1", ct);
        var first = await EpochAsync(server, prefix, "item:1");
        await writer.Cache.InvalidateAsync("item:1", ct);
        Assert.Equal(7L, await writer.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult(7L), cancellationToken: ct));
        var current = await EpochAsync(server, prefix, "item:1");
        Assert.Equal(first + 1, current);
        var hit = await reader.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:1", family.Name), ct);
        Assert.NotNull(hit.Entry);
        Assert.Equal(current, hit.Epoch);
        Assert.Equal(current, hit.Entry.Epoch);

        // Hits cost one GET each: no MGET, no script, no second round trip for the epoch.
        var before = await server.CommandCallsAsync();
        for (var i = 0; i < 10; i++)
        {
            Assert.NotNull((await reader.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:1", family.Name), ct)).Entry);
        }

        var after = await server.CommandCallsAsync();
        // (Each node's once-a-second refresh of the clear version is a GET too: a few more, never the 20 of a second trip.)
        Assert.InRange(after.GetValueOrDefault("get") - before.GetValueOrDefault("get"), 10, 14);
        Assert.Equal(before.GetValueOrDefault("mget"), after.GetValueOrDefault("mget"));
        Assert.Equal(before.GetValueOrDefault("evalsha") + before.GetValueOrDefault("eval"), after.GetValueOrDefault("evalsha") + after.GetValueOrDefault("eval"));

        // A SetAsync bumps the epoch in the script that stores its value: the value carries the writer's older epoch, never a
        // newer one than the key's, so a fence built on it can refuse a store but never let an older value through.
        for (var i = 1L; i <= 5; i++)
        {
            await writer.Cache.SetAsync("item:1", i, cancellationToken: ct);
            var read = await reader.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:1", family.Name), ct);
            Assert.NotNull(read.Entry);
            Assert.True(read.Epoch <= await EpochAsync(server, prefix, "item:1"), $"hit epoch {read.Epoch} is newer than the key's");
        }

        // A miss reads the current epoch (its second round trip).
        await writer.Cache.InvalidateAsync("item:1", ct);
        var miss = await reader.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:1", family.Name), ct);
        Assert.Null(miss.Entry);
        Assert.Equal(await EpochAsync(server, prefix, "item:1"), miss.Epoch);
        // A key never written gets its epoch created at the time floor, never 0: a fill never fences on "missing" (hole 6).
        var created = (await reader.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:404", family.Name), ct)).Epoch;
        Assert.True(created > 1_000_000_000_000_000, $"epoch {created} is not at the time floor");
        Assert.Equal(created, await EpochAsync(server, prefix, "item:404"));
    }

    [Fact]
    public async Task A_lookup_that_misses_costs_one_GET_since_it_never_stores()
    {
        var server = redis.Require();
        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        await using var node = await Node.StartAsync(server.Endpoint, prefix);
        var before = await server.CommandCallsAsync();
        for (var i = 0; i < 10; i++)
        {
            Assert.False((await node.Cache.TryGetAsync<long>($"item:absent{i}", ct)).Found);
        }

        var after = await server.CommandCallsAsync();
        // Ten GETs of data keys, no epoch reads (a few more GETs at most: the node's once-a-second clear-version refresh).
        // (A read-through miss reads the epoch as well, 20 or more here: A_plain_hit_is_one_GET… checks the epoch it returns.)
        Assert.InRange(after.GetValueOrDefault("get") - before.GetValueOrDefault("get"), 10, 14);
    }

    [Fact]
    public async Task A_SetAsync_value_outdated_by_its_tag_is_replaced_in_L2_by_the_recompute()
    {
        var server = redis.Require();
        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        await using var writer = await Node.StartAsync(server.Endpoint, prefix);
        var tagged = new CacheEntryOptions { Tags = ["shelf"] };
        await writer.Cache.SetAsync("item:1", 1L, tagged, ct);
        await writer.Cache.InvalidateTagAsync("shelf", ct);

        // Started after the bump, so no bus message about it can arrive mid-read and fence the reader's store.
        await using var reader = await Node.StartAsync(server.Endpoint, prefix);

        // The bytes in Redis still say 1 under the SetAsync's epoch; the read judges them outdated (tag) and returns the
        // key's current epoch, so the recompute's fenced store succeeds and replaces them.
        var runs = 0;
        Assert.Equal(2L, await reader.Cache.GetOrSetAsync("item:1", _ => { runs++; return ValueTask.FromResult(2L); }, tagged, ct));
        Assert.Equal(1, runs);
        await using var third = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal(2L, await third.Cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult(-1L), tagged, ct));
    }

    [Fact]
    public async Task A_read_of_a_paused_server_gives_up_at_the_operation_timeout_and_trips_the_breaker()
    {
        if (!RedisProcess.Available)
        {
            MissingServer.Skip(RedisProcess.SkipReason!);
        }

        await using var server = await RedisProcess.StartNewAsync();
        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        await using var node = await Node.StartAsync(server.Endpoint, prefix, o => o.BreakerFailureThreshold = 2);
        var family = node.Cache.Families.Resolve("item:1");
        await node.Cache.SetAsync("item:1", 1L, cancellationToken: ct);
        Assert.NotNull((await node.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:1", family.Name), ct)).Entry);

        server.Pause();
        try
        {
            // Operation timeout 300 ms (Node): each read comes back unavailable near it, never after the client's own
            // 5 s AsyncTimeout; after two failures the breaker is open and reads skip Redis at once.
            for (var i = 0; i < 2 && !node.Tier.Breaker.IsOpen; i++)
            {
                var watch = Stopwatch.StartNew();
                var read = await node.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:1", family.Name), ct);
                Assert.Equal(Coherent.SharedTier.SharedTierReadStatus.Unavailable, read.Status);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"read took {watch.Elapsed.TotalMilliseconds:F0} ms");
            }

            Assert.True(node.Tier.Breaker.IsOpen);
            var skipped = Stopwatch.StartNew();
            Assert.True((await node.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:1", family.Name), ct)).Status == Coherent.SharedTier.SharedTierReadStatus.Unavailable);
            Assert.True(skipped.Elapsed < TimeSpan.FromMilliseconds(100));

            // Through the engine: the factory serves, bounded in time.
            var served = Stopwatch.StartNew();
            Assert.Equal(9, await node.Cache.GetOrSetAsync("item:2", _ => ValueTask.FromResult(9L), cancellationToken: ct));
            Assert.True(served.Elapsed < TimeSpan.FromSeconds(2));
        }
        finally
        {
            server.Resume();
        }

        await Eventually.TrueAsync(() => !node.Tier.Breaker.IsOpen, TimeSpan.FromSeconds(10), "breaker never closed after the pause");
        await Eventually.TrueAsync(async () => (await node.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:1", family.Name), ct)).Entry is not null, TimeSpan.FromSeconds(5), "value not readable after the pause");
    }

    [Fact]
    public void Json_in_one_segment_and_in_several_reads_the_same()
    {
        var product = new { Id = 42, Name = "Espresso machine", Tags = new[] { "kitchen", "coffee" }, Price = 899.95m };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(product, JsonSerializerOptions.Web);
        var one = new ReadOnlySequence<byte>(bytes);
        var first = new Segment(bytes.AsMemory(0, 10));
        var last = first.Append(bytes.AsMemory(10));
        var several = new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        Assert.False(several.IsSingleSegment);

        var a = JsonCacheSerializer.Default.Deserialize<JsonElement>(one);
        var b = JsonCacheSerializer.Default.Deserialize<JsonElement>(several);
        Assert.Equal(a.GetRawText(), b.GetRawText());
        Assert.Equal(42, a.GetProperty("id").GetInt32());

        // The one-segment parse reads with the serializer's own options (the reader overload used default reader settings).
        var lenient = new JsonCacheSerializer(new JsonSerializerOptions { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        Assert.Equal([1, 2], lenient.Deserialize<int[]>(new ReadOnlySequence<byte>("/* v1 */ [1, 2,]"u8.ToArray())));
    }

    private static async Task<long> EpochAsync(RedisProcess server, string prefix, string key) =>
        (long?)(await server.ExecAsync("GET", $"{prefix}:{{{key}}}:e")) ?? 0;

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
