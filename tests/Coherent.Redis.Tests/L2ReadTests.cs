using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Coherent.Redis.Tests.Infrastructure;
using StackExchange.Redis;

namespace Coherent.Redis.Tests;

/// <summary>
/// The L2 read: one MGET of a plain key's data and epoch (atomic, so the epoch is the one stored with the data), bounded by
/// the operation timeout and counted by the circuit breaker, and a script fallback when an older ACL lacks +mget.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class L2ReadTests(SharedRedis redis)
{
    private static string Prefix() => "r" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task A_plain_read_is_one_MGET_and_its_epoch_is_the_one_stored_with_the_data()
    {
        if (redis.Server is not { } server)
        {
            Assert.Skip(RedisServer.SkipReason!);
            return;
        }

        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        await using var writer = await Node.StartAsync(server.Endpoint, prefix);
        await using var reader = await Node.StartAsync(server.Endpoint, prefix);
        var family = reader.Cache.Families.Resolve("item:1");
        await writer.Cache.SetAsync("item:1", 0L, cancellationToken: ct);
        var first = await reader.Tier.ReadAsync("item:1", family, ct);
        Assert.NotNull(first.Entry);

        // One MGET per read, no script.
        var before = await CommandCallsAsync(server);
        for (var i = 0; i < 10; i++)
        {
            Assert.NotNull((await reader.Tier.ReadAsync("item:1", family, ct)).Entry);
        }

        var after = await CommandCallsAsync(server);
        Assert.True(after.GetValueOrDefault("mget") - before.GetValueOrDefault("mget") >= 10, "reads did not use MGET");
        Assert.Equal(before.GetValueOrDefault("evalsha") + before.GetValueOrDefault("eval"), after.GetValueOrDefault("evalsha") + after.GetValueOrDefault("eval"));

        // Each SetAsync(i) bumps the epoch by one and stores i, in one script: a read taken while they run must pair value i
        // with epoch e0 + i, never a value with a neighbouring write's epoch.
        var e0 = first.Epoch;
        using var stop = new CancellationTokenSource();
        var writes = Task.Run(async () =>
        {
            for (var i = 1L; i <= 300; i++)
            {
                await writer.Cache.SetAsync("item:1", i, cancellationToken: ct);
            }

            await stop.CancelAsync();
        }, ct);
        var pairs = 0;
        while (!stop.IsCancellationRequested)
        {
            var read = await reader.Tier.ReadAsync("item:1", family, ct);
            if (read.Entry is { } entry)
            {
                var value = JsonCacheSerializer.Default.Deserialize<long>(new ReadOnlySequence<byte>(entry.Payload));
                Assert.Equal(e0 + value, read.Epoch);
                Assert.Equal(read.Epoch, entry.Epoch);
                pairs++;
            }
        }

        await writes;
        Assert.True(pairs > 10, $"only {pairs} reads overlapped the writes");
    }

    [Fact]
    public async Task A_read_of_a_paused_server_gives_up_at_the_operation_timeout_and_trips_the_breaker()
    {
        if (!RedisServer.Available)
        {
            Assert.Skip(RedisServer.SkipReason!);
        }

        await using var server = await RedisServer.StartAsync();
        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        await using var node = await Node.StartAsync(server.Endpoint, prefix, o => o.BreakerFailureThreshold = 2);
        var family = node.Cache.Families.Resolve("item:1");
        await node.Cache.SetAsync("item:1", 1L, cancellationToken: ct);
        Assert.NotNull((await node.Tier.ReadAsync("item:1", family, ct)).Entry);

        server.Pause();
        try
        {
            // Operation timeout 300 ms (Node): each read comes back unavailable near it, never after the client's own
            // 5 s AsyncTimeout; after two failures the breaker is open and reads skip Redis at once.
            for (var i = 0; i < 2 && !node.Tier.Breaker.IsOpen; i++)
            {
                var watch = Stopwatch.StartNew();
                var read = await node.Tier.ReadAsync("item:1", family, ct);
                Assert.True(read.Unavailable);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"read took {watch.Elapsed.TotalMilliseconds:F0} ms");
            }

            Assert.True(node.Tier.Breaker.IsOpen);
            var skipped = Stopwatch.StartNew();
            Assert.True((await node.Tier.ReadAsync("item:1", family, ct)).Unavailable);
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
        await Eventually.TrueAsync(async () => (await node.Tier.ReadAsync("item:1", family, ct)).Entry is not null, TimeSpan.FromSeconds(5), "value not readable after the pause");
    }

    [Fact]
    public async Task An_ACL_without_mget_falls_back_to_the_read_script_at_once()
    {
        if (redis.Server is not { } server)
        {
            Assert.Skip(RedisServer.SkipReason!);
            return;
        }

        var prefix = Prefix();
        var ct = TestContext.Current.CancellationToken;
        var user = "u" + prefix;
        string[] withoutMget = [.. AclTests.Rule.Where(r => r != "+mget").Select(r => r.Replace("app:", prefix + ":", StringComparison.Ordinal))];
        Assert.NotEqual(AclTests.Rule.Length, withoutMget.Length);
        await server.ExecAsync("ACL", ["SETUSER", user, .. withoutMget]);
        await using var writer = await Node.StartAsync(server.Endpoint, prefix);
        await writer.Cache.SetAsync("item:1", 5L, cancellationToken: ct);

        var options = RedisServer.Options(server.Endpoint, user: user, password: "s3cret-password");
        options.TieBreaker = "";
        options.ConfigurationChannel = "";
        await using var reader = await Node.StartAsync(await ConnectionMultiplexer.ConnectAsync(options), prefix);
        var runs = 0;
        for (var i = 0; i < 3; i++)
        {
            reader.Cache.Local.Remove("item:1");
            Assert.Equal(5, await reader.Cache.GetOrSetAsync("item:1", _ => { runs++; return ValueTask.FromResult(-1L); }, cancellationToken: ct));
        }

        Assert.Equal(0, runs); // the refused MGET was retried by script within the same read
        Assert.Equal(1, reader.Logs.Count(2013));
        Assert.False(reader.Tier.Breaker.IsOpen);
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

    private static async Task<Dictionary<string, long>> CommandCallsAsync(RedisServer server)
    {
        var info = (string)(await server.ExecAsync("INFO", "commandstats"))!;
        var calls = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in info.Split('\n', StringSplitOptions.TrimEntries))
        {
            // cmdstat_mget:calls=12,usec=...
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && line.IndexOf(":calls=", StringComparison.Ordinal) is var at and > 0)
            {
                var end = line.IndexOf(',', at);
                calls[line[8..at]] = long.Parse(line[(at + 7)..end], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return calls;
    }

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
