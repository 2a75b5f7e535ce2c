using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Coherent.Lab.Proof;

/// <summary>
/// A loopback TCP proxy in front of a server, one per node, so one node can be cut off from L2 alone: while partitioned,
/// bytes are held in both directions (a black hole, like a dropped network path); healing resets the connections that
/// were cut (as TCP eventually does) and lets new ones through.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<string> _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(TcpClient Client, TcpClient Server, CancellationTokenSource Cts)> _connections = [];
    private readonly Lock _lock = new();
    private volatile bool _partitioned;
    private readonly Task _accepting;

    public TcpProxy(Func<string> upstream)
    {
        _upstream = upstream;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptLoopAsync();
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public bool Partitioned => _partitioned;

    public void Partition() => _partitioned = true;

    public void Heal()
    {
        List<(TcpClient Client, TcpClient Server, CancellationTokenSource Cts)> cut;
        lock (_lock)
        {
            cut = [.. _connections];
            _connections.Clear();
        }

        foreach (var (client, server, cts) in cut)
        {
            cts.Cancel();
            client.Dispose();
            server.Dispose();
        }

        _partitioned = false;
    }

    public static async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (watch.Elapsed < timeout)
            {
                await Task.Delay(20);
            }
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
