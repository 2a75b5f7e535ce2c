using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

/// <summary>Bulk reads on Redis (issue 15, part 2): keys other nodes stored are read, the rest computed in one call, each fenced on its own.</summary>
[Collection(RedisCollection.Name)]
public sealed class BulkRedisTests(SharedRedis redis)
{
    [Fact]
    public async Task Keys_another_node_stored_are_read_from_Redis_and_an_invalidated_keys_batch_value_is_not_stored()
    {
        var server = redis.Require();
        var prefix = KeyPrefix.New("bulk");
        var ct = TestContext.Current.CancellationToken;
        await using var a = await Node.StartAsync(server.Endpoint, prefix);
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        foreach (var i in new[] { 1, 2, 3 })
        {
            await a.Cache.GetOrSetAsync($"item:{i}", _ => ValueTask.FromResult($"a{i}"), cancellationToken: ct);
        }

        var asked = new List<string>();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batch = b.Cache.GetOrSetManyAsync<string>(["item:1", "item:2", "item:3", "item:4", "item:5"], async (keys, _) =>
        {
            asked.AddRange(keys);
            entered.SetResult();
            await release.Task;
            return keys.ToDictionary(k => k, k => "b" + k[5..]);
        }, cancellationToken: ct).AsTask();

        await entered.Task;
        Assert.Equal(["item:4", "item:5"], asked.Order(StringComparer.Ordinal));
        await a.Cache.InvalidateAsync("item:4", ct); // item:4 changed at the source while the batch computed it
        release.SetResult();
        var values = await batch;

        Assert.Equal(["a1", "a2", "a3", "b4", "b5"], values.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value));
        Assert.Equal("b5", await a.Cache.GetOrSetAsync("item:5", _ => ValueTask.FromResult("recomputed"), cancellationToken: ct));
        Assert.Equal("recomputed", await a.Cache.GetOrSetAsync("item:4", _ => ValueTask.FromResult("recomputed"), cancellationToken: ct));
    }

    /// <summary>
    /// A cold batch: one <c>MGET</c>, one lease script and one store script for every <c>MaxKeysPerBatch</c> keys (30 keys at the
    /// default 256: one of each; 35 at 10: four of each — a larger batch is split, never refused).
    /// </summary>
    [Theory]
    [InlineData(null, 30, 1)]
    [InlineData(10, 35, 4)]
    public async Task A_cold_batch_sends_one_MGET_one_lease_script_and_one_store_script_for_every_MaxKeysPerBatch_keys(int? maxKeysPerBatch, int count, int commands)
    {
        var server = redis.Require();
        var prefix = KeyPrefix.New("bulkcold");
        var ct = TestContext.Current.CancellationToken;
        void Options(CoherentRedisOptions o) => o.MaxKeysPerBatch = maxKeysPerBatch ?? o.MaxKeysPerBatch;
        await using var a = await Node.StartAsync(server.Endpoint, prefix, Options);
        await using var b = await Node.StartAsync(server.Endpoint, prefix, Options);
        var keys = Enumerable.Range(0, count).Select(i => $"item:{i}").ToArray();
        await a.Cache.GetOrSetAsync("item:warm", _ => ValueTask.FromResult("w"), cancellationToken: ct); // scripts loaded
        var before = await server.CommandCallsAsync();

        var values = await a.Cache.GetOrSetManyAsync<string>(keys, (missing, _) =>
            ValueTask.FromResult<IReadOnlyDictionary<string, string>>(missing.ToDictionary(k => k, k => "v" + k[5..])), cancellationToken: ct);

        var after = await server.CommandCallsAsync();
        Assert.All(keys, k => Assert.Equal("v" + k[5..], values[k]));
        Assert.Equal(commands, after.Delta(before, "mget"));
        Assert.Equal(2 * commands, after.Delta(before, "evalsha") + after.Delta(before, "eval")); // lease scripts, store scripts
        var read = await b.Cache.GetOrSetManyAsync<string>(keys, (missing, _) => throw new InvalidOperationException("not stored: " + string.Join(", ", missing)), cancellationToken: ct);
        Assert.All(keys, k => Assert.Equal("v" + k[5..], read[k]));
    }

    private static void Families(CoherentCacheBuilder b) => b
        .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)).Jitter(0).NoEarlyRefresh())
        .Define("ver", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)).Jitter(0).NoEarlyRefresh())
        .Define("quote", p => p.MaxStaleness(TimeSpan.FromMilliseconds(300)).Ttl(TimeSpan.FromMilliseconds(300)).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromMinutes(1)));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_batch_read_judges_every_key_as_a_single_read_would(bool signedEnvelopes)
    {
        var server = redis.Require();
        var prefix = KeyPrefix.New("bulkjudge");
        var ct = TestContext.Current.CancellationToken;
        Action<CoherentRedisOptions> options = o =>
        {
            o.VersionedFamilies.Add("ver");
            if (signedEnvelopes)
            {
                o.SigningKey = "a-signing-key-of-32-bytes-long!!"u8.ToArray();
            }
        };

        await using var writer = await Node.StartAsync(server.Endpoint, prefix, options, Families);
        await writer.Cache.SetAsync("item:hit", "stored", cancellationToken: ct);
        await writer.Cache.SetAsync("item:tagged", "before-the-tag-moved", new CacheEntryOptions { Tags = ["t"] }, ct);
        await writer.Cache.InvalidateTagAsync("t", ct);
        await writer.Cache.SetAsync("ver:1", "first", cancellationToken: ct);
        await writer.Cache.SetAsync("ver:1", "second", cancellationToken: ct);
        await writer.Cache.GetOrSetAsync("quote:kept", _ => ValueTask.FromResult("last-good"), cancellationToken: ct);
        await writer.Cache.GetOrSetAsync("quote:gone", _ => ValueTask.FromResult("invalidated"), cancellationToken: ct);
        await writer.Cache.InvalidateAsync("quote:gone", ct);
        await Eventually.TrueAsync(async () => !(await writer.Cache.TryGetAsync<string>("quote:kept", ct)).Found, TimeSpan.FromSeconds(10), "the quote never expired");

        await using var reader = await Node.StartAsync(server.Endpoint, prefix, options, Families);
        var asked = new List<string>();
        var values = await reader.Cache.GetOrSetManyAsync<string>(["item:hit", "item:tagged", "ver:1", "item:none"], (keys, _) =>
        {
            asked.AddRange(keys);
            return ValueTask.FromResult<IReadOnlyDictionary<string, string>>(keys.ToDictionary(k => k, k => "computed"));
        }, cancellationToken: ct);

        Assert.Equal(["item:none", "item:tagged"], asked.Order(StringComparer.Ordinal)); // a tag-invalidated entry is a miss
        Assert.Equal("stored", values["item:hit"]);
        Assert.Equal("second", values["ver:1"]); // the versioned family follows its pointer
        Assert.Equal("computed", values["item:tagged"]);

        // The misses were fenced by the epochs the batch read: their fills are in Redis for the writer.
        Assert.Equal("computed", await writer.Cache.GetOrSetAsync("item:none", _ => ValueTask.FromResult("again"), cancellationToken: ct));

        // Fail-safe through a batch: the value Redis kept past its Ttl is served when the factory fails; an invalidated one never.
        static ValueTask<IReadOnlyDictionary<string, string>> Failing(IReadOnlyList<string> keys, CancellationToken _) => throw new InvalidOperationException("the source is down");
        Assert.Equal("last-good", (await reader.Cache.GetOrSetManyAsync<string>(["quote:kept"], Failing, cancellationToken: ct))["quote:kept"]);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await reader.Cache.GetOrSetManyAsync<string>(["quote:gone"], Failing, cancellationToken: ct));
    }
}
