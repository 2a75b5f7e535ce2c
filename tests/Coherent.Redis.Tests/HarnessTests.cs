using System.Net.Sockets;
using System.Text;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

/// <summary>
/// The harness's own launchers and proxy (tests/Coherent.Testing), checked against real processes: the faults the suites
/// inject must be the faults they claim (a paused server answers nothing, a restarted one is empty, a partition holds bytes).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class HarnessTests(SharedRedis redis)
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Memcached_launcher_pauses_resumes_kills_and_restarts_empty()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await MemcachedProcess.StartForTestAsync();
        Assert.Contains($"STAT pid {server.Pid}\r\n", await server.ExecAsync("stats", ct), StringComparison.Ordinal);
        Assert.Equal("STORED\r\n", await server.ExecAsync("set k 0 0 1\r\nv", ct));
        Assert.Contains("VALUE k 0 1", await server.ExecAsync("get k", ct), StringComparison.Ordinal);

        server.Pause();
        using (var paused = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            paused.CancelAfter(Short);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => server.ExecAsync("get k", paused.Token));
        }

        server.Resume();
        Assert.Contains("VALUE k 0 1", await server.ExecAsync("get k", ct), StringComparison.Ordinal);

        await server.RestartAsync();
        Assert.Equal("END\r\n", await server.ExecAsync("get k", ct));

        server.Kill();
        await Assert.ThrowsAsync<SocketException>(() => server.ExecAsync("stats", ct));
    }

    [Fact]
    public async Task Partition_proxy_forwards_holds_bytes_while_partitioned_and_resets_on_heal()
    {
        var ct = TestContext.Current.CancellationToken;
        var server = redis.RequireAny();
        await using var proxy = new PartitionProxy(server.Endpoint);
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", proxy.Port, ct);
        var stream = client.GetStream();
        Assert.Equal("+PONG", await PingAsync(stream, ct));

        proxy.Partition();
        var held = PingAsync(stream, ct);
        await Task.Delay(Short, ct); // nothing may come back while partitioned: a wait, not a synchronization
        Assert.False(held.IsCompleted, "a reply crossed the partition");
        Assert.True(client.Connected, "the partition closed the connection (it must stay half-open)");

        proxy.Heal();
        await Assert.ThrowsAnyAsync<IOException>(async () => await held.WaitAsync(TimeSpan.FromSeconds(5), ct));

        using var fresh = new TcpClient();
        await fresh.ConnectAsync("127.0.0.1", proxy.Port, ct);
        Assert.Equal("+PONG", await PingAsync(fresh.GetStream(), ct));

        proxy.ResetAll();
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await PingAsync(fresh.GetStream(), ct);
            await PingAsync(fresh.GetStream(), ct);
        });
    }

    private static async Task<string> PingAsync(NetworkStream stream, CancellationToken ct)
    {
        await stream.WriteAsync("PING\r\n"u8.ToArray(), ct);
        var buffer = new byte[64];
        var n = await stream.ReadAsync(buffer, ct);
        if (n == 0)
        {
            throw new IOException("connection closed");
        }

        return Encoding.ASCII.GetString(buffer, 0, n).TrimEnd();
    }
}
