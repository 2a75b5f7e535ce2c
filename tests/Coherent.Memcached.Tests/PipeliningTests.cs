using Coherent.Memcached.Protocol;
using Coherent.Memcached.Tests.Infrastructure;
using static Coherent.Memcached.Tests.Infrastructure.Clients;

namespace Coherent.Memcached.Tests;

public sealed class PipeliningTests
{
    [Fact]
    public async Task Thousands_of_concurrent_calls_on_one_connection_each_get_their_own_answer()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var connectionsBefore = await TotalConnectionsAsync(server);
        await using var connection = await ConnectAsync(server);
        const int Calls = 2000;
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var calls = Enumerable.Range(0, Calls).Select(i => Task.Run(async () =>
        {
            await start.Task;
            var key = Key("k" + i);
            var value = new string((char)('a' + (i % 26)), i % 300) + i;
            var stored = await connection.SendAsync(Set(key, value));
            var read = i % 3 == 0
                ? (await connection.SendBatchAsync([Get(Key("absent" + i), MetaRequestFlags.Quiet), Get(key)]))[1]
                : await connection.SendAsync(Get(key));
            return (stored.Status, Value: Text(read), Expected: value);
        })).ToArray();
        start.SetResult();
        var results = await Task.WhenAll(calls);

        Assert.All(results, r => Assert.Equal((MetaStatus.Header, r.Expected), (r.Status, r.Value)));
        Assert.Equal(0, connection.Outstanding);
        // Accepted since the first count: the client's one connection and the stats connection of the second count.
        Assert.Equal(connectionsBefore + 2, await TotalConnectionsAsync(server));
        Assert.Equal(Calls.ToString(System.Globalization.CultureInfo.InvariantCulture), await server.StatAsync("curr_items"));
    }

    [Fact]
    public async Task A_cancelled_call_leaves_the_connection_in_step_for_the_next_one()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var connection = await ConnectAsync(server);
        await connection.SendAsync(Set(Key("a"), "A"));
        await connection.SendAsync(Set(Key("b"), "B"));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.SendAsync(Get(Key("a")), cancelled.Token));
        server.Pause();
        using var soon = new CancellationTokenSource();
        var abandoned = connection.SendAsync(Get(Key("a")), soon.Token);
        await soon.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        server.Resume();

        Assert.Equal("B", Text(await connection.SendAsync(Get(Key("b")))));
        Assert.False(connection.IsBroken);
    }

    private static async Task<int> TotalConnectionsAsync(MemcachedProcess server) =>
        int.Parse((await server.StatAsync("total_connections"))!, System.Globalization.CultureInfo.InvariantCulture);
}
