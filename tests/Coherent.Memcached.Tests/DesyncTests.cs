using System.Net;
using System.Net.Sockets;
using System.Text;
using Coherent.Memcached.Connections;
using static Coherent.Memcached.Tests.Infrastructure.Clients;

namespace Coherent.Memcached.Tests;

/// <summary>
/// A peer whose bytes cannot be matched to the requests (an injected fault: a listener that answers wrongly, since a real
/// memcached never does): the connection must be discarded at once and every waiting call failed, not left to time out.
/// </summary>
public sealed class DesyncTests
{
    [Theory]
    [InlineData("HD O999\r\n")]
    [InlineData("WAT\r\n")]
    [InlineData("VA 3 O1\r\nabcdef")]
    public async Task An_answer_that_is_not_to_the_head_request_discards_the_connection_and_fails_every_waiting_call(string answer)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var endPoint = (IPEndPoint)listener.LocalEndpoint;
        using var release = new CancellationTokenSource();
        var peer = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(release.Token);
            var stream = client.GetStream();
            var received = new StringBuilder();
            var buffer = new byte[1024];
            while (received.ToString().Split("\r\n").Length < 3)
            {
                received.Append(Encoding.ASCII.GetString(buffer, 0, await stream.ReadAsync(buffer, release.Token)));
            }

            await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), release.Token);
            await Task.Delay(Timeout.Infinite, release.Token);
        });
        await using var connection = await MemcachedConnection.ConnectAsync(
            endPoint, "fault-peer", TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), 1 << 20, TimeProvider.System, CancellationToken.None);

        var first = connection.SendAsync(Get(Key("a")));
        var second = connection.SendAsync(Get(Key("b")));

        var failure = await Assert.ThrowsAsync<ProtocolDesyncException>(() => first);
        Assert.Same(failure, await Assert.ThrowsAsync<ProtocolDesyncException>(() => second));
        Assert.True(connection.IsBroken);
        Assert.Equal(0, connection.Outstanding);
        await Assert.ThrowsAsync<ProtocolDesyncException>(() => connection.SendAsync(Get(Key("c"))));
        await release.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => peer);
    }
}
