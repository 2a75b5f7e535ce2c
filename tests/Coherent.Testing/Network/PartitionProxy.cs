using System.Net;
using System.Net.Sockets;

namespace Coherent.Testing;

/// <summary>
/// A loopback TCP proxy in front of a server, so one client (a node) can be cut off from it alone. It forwards both ways;
/// <see cref="Partition"/> turns it into a black hole: bytes stop flowing both ways while every socket stays open (a
/// half-open connection, as after a dropped network path). <see cref="Heal"/> resets the connections that were cut, as the
/// TCP stack eventually would, and forwards again; <see cref="ResetAll"/> resets every connection without a partition.
/// </summary>
public sealed class PartitionProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<string> _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(TcpClient Client, TcpClient Server, CancellationTokenSource Cts)> _connections = [];
    private readonly Lock _lock = new();
    private readonly Task _accepting;
    private volatile bool _partitioned;

    /// <param name="upstream">The server's endpoint (host:port), read at each new connection (a restarted server may move).</param>
    public PartitionProxy(Func<string> upstream)
    {
        _upstream = upstream;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptLoopAsync();
    }

    /// <summary>A proxy in front of <paramref name="endpoint"/>.</summary>
    public PartitionProxy(string endpoint)
        : this(() => endpoint)
    {
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public bool Partitioned => _partitioned;

    /// <summary>Holds every byte in both directions from now on; the connections stay open.</summary>
    public void Partition() => _partitioned = true;

    /// <summary>Resets the connections (cut during the partition) and forwards again.</summary>
    public void Heal()
    {
        ResetAll();
        _partitioned = false;
    }

    /// <summary>Resets (RST) every open connection; new ones are accepted as before.</summary>
    public void ResetAll()
    {
        List<(TcpClient Client, TcpClient Server, CancellationTokenSource Cts)> cut;
        lock (_lock)
        {
            cut = [.. _connections];
            _connections.Clear();
        }

        foreach (var (client, server, cts) in cut)
        {
            // Linger first: once the pumps see the cancellation they close the sockets themselves, with a FIN.
            CloseWithReset(client);
            CloseWithReset(server);
            cts.Cancel();
            client.Dispose();
            server.Dispose();
        }
    }

    private static void CloseWithReset(TcpClient connection)
    {
        try
        {
            if (connection.Client is { } socket)
            {
                socket.LingerState = new LingerOption(true, 0); // close with RST, not FIN
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ConnectAsync(client));
        }
    }

    private async Task ConnectAsync(TcpClient client)
    {
        var server = new TcpClient { NoDelay = true };
        client.NoDelay = true;
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        try
        {
            var upstream = IPEndPoint.Parse(_upstream());
            await server.ConnectAsync(upstream.Address, upstream.Port, cts.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            client.Dispose();
            server.Dispose();
            cts.Dispose();
            return;
        }

        lock (_lock)
        {
            _connections.Add((client, server, cts));
        }

        _ = PumpAsync(client, server, cts);
        _ = PumpAsync(server, client, cts);
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, CancellationTokenSource cts)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var source = from.GetStream();
            var target = to.GetStream();
            int n;
            while ((n = await source.ReadAsync(buffer, cts.Token)) > 0)
            {
                while (_partitioned)
                {
                    await Task.Delay(5, cts.Token);
                }

                await target.WriteAsync(buffer.AsMemory(0, n), cts.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }

        // One side closed: close both (the other pump ends too) and forget the pair.
        from.Dispose();
        to.Dispose();
        lock (_lock)
        {
            _connections.RemoveAll(c => c.Client == from || c.Server == from);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Heal();
        await _accepting;
        _stop.Dispose();
    }
}
