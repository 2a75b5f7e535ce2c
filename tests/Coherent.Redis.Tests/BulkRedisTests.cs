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
}
