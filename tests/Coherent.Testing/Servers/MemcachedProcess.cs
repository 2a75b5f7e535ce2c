using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Coherent.Testing;

/// <summary>
/// A throwaway memcached on a free loopback port (<c>memcached -l 127.0.0.1 -p PORT</c>, plus <c>-u root</c> when running
/// as root, which memcached otherwise refuses): stop, kill -9, pause/resume (SIGSTOP/SIGCONT) and restart empty, as
/// <see cref="ServerProcess"/> does for every server.
/// </summary>
public sealed class MemcachedProcess : ServerProcess
{
    private MemcachedProcess(int port)
        : base("memcached", port)
    {
    }

    /// <summary>The memcached binary, or null when it is not installed.</summary>
    public static string? InstalledBinary { get; } = Find("memcached");

    public static bool Available => InstalledBinary is not null;

    public static string? SkipReason => Available ? null : "memcached is not installed (apt-get install memcached); .ci/run installs it";

    protected override string Binary => InstalledBinary ?? throw new InvalidOperationException("memcached is not installed (apt-get install memcached).");

    public static Task<MemcachedProcess> StartNewAsync() => StartOnFreePortAsync(port => new MemcachedProcess(port));

    /// <summary>For a test: starts a memcached of its own, or skips (fails where servers are required) when it is missing.</summary>
    public static Task<MemcachedProcess> StartForTestAsync()
    {
        if (!Available)
        {
            MissingServer.Skip(SkipReason!);
        }

        return StartNewAsync();
    }

    protected override IEnumerable<string> Arguments()
    {
        if (Environment.UserName == "root")
        {
            yield return "-u";
            yield return "root";
        }

        yield return "-l";
        yield return "127.0.0.1";
        yield return "-p";
        yield return Port.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Sends one text-protocol command and returns the reply up to its terminator (<c>END</c>, <c>OK</c>, ...).</summary>
    public async Task<string> ExecAsync(string command, CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, cancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), cancellationToken);
        var reply = new StringBuilder();
        var buffer = new byte[4096];
        while (!IsComplete(reply))
        {
            var n = await stream.ReadAsync(buffer, cancellationToken);
            if (n == 0)
            {
                break;
            }

            reply.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return reply.ToString();
    }

    private static bool IsComplete(StringBuilder reply)
    {
        var text = reply.ToString();
        return text.EndsWith("END\r\n", StringComparison.Ordinal) || text.EndsWith("OK\r\n", StringComparison.Ordinal)
            || text.EndsWith("ERROR\r\n", StringComparison.Ordinal) || text.EndsWith("STORED\r\n", StringComparison.Ordinal);
    }

    protected override async Task<int?> AnsweringPidAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var stats = await ExecAsync("stats", timeout.Token);
        var line = stats.Split("\r\n").FirstOrDefault(l => l.StartsWith("STAT pid ", StringComparison.Ordinal));
        return line is not null && int.TryParse(line["STAT pid ".Length..], CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }
}
