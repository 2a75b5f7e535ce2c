using System.Buffers;
using System.Net.Sockets;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Connections;

internal sealed partial class MemcachedConnection
{
    /// <summary>Drains the outgoing pipe to the socket: everything written since the last send leaves in one call.</summary>
    private async Task SendLoopAsync()
    {
        var reader = _outgoing.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await _socket.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            Fail(new ServerUnavailableException($"Sending to Memcached server {Server} failed: {ex.Message}", ex));
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Parses answers as they arrive and hands each to the request at the head of the line.</summary>
    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (true)
            {
                var result = await _incoming.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                while (MetaResponseParser.TryParse(buffer, _maxValueBytes, out var response, out var consumed))
                {
                    buffer = buffer.Slice(consumed);
                    Dispatch(response!);
                }

                _incoming.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    Fail(new ServerUnavailableException($"Memcached server {Server} closed the connection."));
                    break;
                }
            }
        }
        catch (ProtocolDesyncException ex)
        {
            Fail(ex);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            Fail(new ServerUnavailableException($"Reading from Memcached server {Server} failed: {ex.Message}", ex));
        }
        finally
        {
            await _incoming.CompleteAsync().ConfigureAwait(false);
        }
    }

    private void Dispatch(MetaResponse response)
    {
        lock (_gate)
        {
            if (!_line.TryPeek(out var head))
            {
                throw new ProtocolDesyncException($"an answer {response} to no request");
            }

            if (head.Accept(response))
            {
                _line.Dequeue();
            }
        }
    }
}
