using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Coherent.Memcached.Cluster;

/// <summary>
/// The few classic text commands the client needs besides the meta protocol (<c>stats settings</c>, <c>flush_all</c>,
/// <c>mn</c> as a probe), each on its own short-lived connection: their multi-line answers never enter a pipelined stream,
/// and a probe of a server judged dead never waits behind that server's stalled requests.
/// </summary>
internal static class AdminCommand
{
    private const int MaxAnswerBytes = 64 * 1024;

    /// <summary>Sends <paramref name="command"/> and returns the answer's lines up to and including the first one in <paramref name="finalLines"/>.</summary>
    public static async Task<IReadOnlyList<string>> RunAsync(EndPoint endPoint, string command, string[] finalLines, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken = default)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        using var socket = endPoint is IPEndPoint ip ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) : new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint, linked.Token).ConfigureAwait(false);
            await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\r\n"), SocketFlags.None, linked.Token).ConfigureAwait(false);
            var received = new List<byte>();
            var buffer = new byte[4096];
            var lines = new List<string>();
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, linked.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new ServerUnavailableException($"Memcached server {endPoint} closed the connection during '{command}'.");
                }

                received.AddRange(buffer.AsSpan(0, read));
                if (received.Count > MaxAnswerBytes)
                {
                    throw new ProtocolDesyncException($"an answer to '{command}' over {MaxAnswerBytes} bytes");
                }

                int end;
                while ((end = received.IndexOf((byte)'\n')) >= 0)
                {
                    var line = Encoding.ASCII.GetString([.. received.GetRange(0, end)]).TrimEnd('\r');
                    received.RemoveRange(0, end + 1);
                    lines.Add(line);
                    if (finalLines.Contains(line) || line == "ERROR" || line.StartsWith("CLIENT_ERROR", StringComparison.Ordinal) || line.StartsWith("SERVER_ERROR", StringComparison.Ordinal))
                    {
                        return lines;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new MemcachedTimeoutException(endPoint.ToString() ?? "?", timeout);
        }
        catch (SocketException ex)
        {
            throw new ServerUnavailableException($"Memcached server {endPoint}: {ex.Message}", ex);
        }
    }

    /// <summary>The server's <c>item_size_max</c> from <c>stats settings</c>, or null when it does not report one.</summary>
    public static async Task<long?> ReadItemSizeMaxAsync(EndPoint endPoint, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken = default)
    {
        var lines = await RunAsync(endPoint, "stats settings", ["END"], timeout, time, cancellationToken).ConfigureAwait(false);
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            if (parts is ["STAT", "item_size_max", var value] && long.TryParse(value, out var size) && size > 0)
            {
                return size;
            }
        }

        return null;
    }

    /// <summary>True when the server answers <c>mn</c> with <c>MN</c> (alive, speaks the meta protocol).</summary>
    public static async Task<bool> ProbeAsync(EndPoint endPoint, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken = default)
    {
        var lines = await RunAsync(endPoint, "mn", ["MN"], timeout, time, cancellationToken).ConfigureAwait(false);
        return lines is [.., "MN"];
    }

    /// <summary>Empties the server (<c>flush_all</c>).</summary>
    public static async Task FlushAsync(EndPoint endPoint, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken = default)
    {
        var lines = await RunAsync(endPoint, "flush_all", ["OK"], timeout, time, cancellationToken).ConfigureAwait(false);
        if (lines is not [.., "OK"])
        {
            throw new ServerUnavailableException($"Memcached server {endPoint} refused flush_all: {lines[^1]}");
        }
    }
}
