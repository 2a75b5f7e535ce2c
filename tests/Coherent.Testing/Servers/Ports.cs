using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Coherent.Testing;

/// <summary>Free loopback ports and waiting for a listener: the one place the harness finds and probes ports.</summary>
public static class Ports
{
    /// <summary>
    /// A loopback TCP port free right now (the embedded Garnet's finder: one rule for every server the harness starts). A
    /// parallel test may take it before the caller binds it; <see cref="ServerProcess"/> checks and retries for that.
    /// </summary>
    public static int Free() => EmbeddedGarnet.FreePort();

    /// <summary>Waits until something accepts connections on <paramref name="port"/>; throws the last SocketException after <paramref name="timeout"/>.</summary>
    public static async Task WaitForListenerAsync(int port, TimeSpan timeout)
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
}
