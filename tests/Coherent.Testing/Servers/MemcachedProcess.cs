using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Coherent.Testing;

/// <summary>
/// A throwaway memcached on a free loopback port (<c>memcached -l 127.0.0.1 -p PORT -U 0 -m 64</c>, plus <c>-u root</c> when
/// running as root, which memcached otherwise refuses, then any extra arguments such as <c>-I 2m</c>): stop, kill -9,
/// pause/resume (SIGSTOP/SIGCONT) and restart empty, as <see cref="ServerProcess"/> does for every server. The one memcached
/// launcher of the tests and the bench.
/// </summary>
public sealed class MemcachedProcess : ServerProcess
{
    /// <summary>The lines a reply to the common commands ends with, for <see cref="ExecAsync(string, CancellationToken)"/>.</summary>
    private static readonly string[] UsualFinalLines = ["END", "OK", "ERROR", "STORED"];

    /// <summary>How long one command may take before it is abandoned, so a frozen or foreign server fails the caller instead of hanging it.</summary>
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(5);

    private readonly string[] _extraArgs;

    private MemcachedProcess(int port, string[] extraArgs)
        : base("memcached", port) => _extraArgs = extraArgs;

    /// <summary>The memcached binary, or null when it is not installed.</summary>
    public static string? InstalledBinary { get; } = Find("memcached");

    public static bool Available => InstalledBinary is not null;

    public static string? SkipReason => Available ? null : "memcached is not installed (apt-get install memcached); .ci/run installs it";

    protected override string Binary => InstalledBinary ?? throw new InvalidOperationException("memcached is not installed (apt-get install memcached).");

    /// <summary>Starts a memcached on a free loopback port, with <paramref name="extraArgs"/> after the harness's own.</summary>
    public static Task<MemcachedProcess> StartNewAsync(params string[] extraArgs) => StartOnFreePortAsync(port => new MemcachedProcess(port, extraArgs));

    /// <summary>For a test: starts a memcached of its own, or skips (fails where servers are required) when it is missing.</summary>
    public static Task<MemcachedProcess> StartForTestAsync(params string[] extraArgs)
    {
        RequireInstalled();
        return StartNewAsync(extraArgs);
    }

    /// <summary>Skips the test (fails where servers are required) when memcached is missing.</summary>
    public static void RequireInstalled()
    {
        if (!Available)
        {
            MissingServer.Skip(SkipReason!);
        }
    }

    protected override IEnumerable<string> Arguments()
    {
        if (Environment.UserName == "root")
        {
            yield return "-u";
            yield return "root";
        }

        // No UDP listener (a second port that could collide) and the 64 MB cache pinned, whatever the version's defaults.
        string[] own = ["-l", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "0", "-m", "64"];
        foreach (var arg in own.Concat(_extraArgs))
        {
            yield return arg;
        }
    }

    /// <summary>Sends one text-protocol command and returns the reply up to its usual last line (<c>END</c>, <c>OK</c>, <c>ERROR</c>, <c>STORED</c>).</summary>
    public Task<string> ExecAsync(string command, CancellationToken cancellationToken = default) =>
        ExchangeAsync(command, UsualFinalLines, cancellationToken);

    /// <summary>Sends one text-protocol command and returns the reply up to and including the line <paramref name="finalLine"/> (<c>mn</c> → <c>MN</c>).</summary>
    public Task<string> ExecAsync(string command, string finalLine, CancellationToken cancellationToken = default) =>
        ExchangeAsync(command, [finalLine], cancellationToken);

    /// <summary>One value of <c>stats</c> (e.g. <c>cmd_set</c>, <c>curr_items</c>, <c>pid</c>), or null when the server has no such stat.</summary>
    public async Task<string?> StatAsync(string name, CancellationToken cancellationToken = default)
    {
        var stats = await ExecAsync("stats", "END", cancellationToken);
        return stats.Split("\r\n").Select(l => l.Split(' ')).FirstOrDefault(p => p is ["STAT", var n, _] && n == name)?[2];
    }

    /// <summary>
    /// One command on a fresh connection, read until the reply's last line is one of <paramref name="finalLines"/>. Throws
    /// <see cref="IOException"/> when the server closes the connection first, and is cancelled after <see cref="CommandTimeout"/>.
    /// </summary>
    private async Task<string> ExchangeAsync(string command, string[] finalLines, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), timeout.Token);
        var reply = new StringBuilder();
        var buffer = new byte[8192];
        while (!EndsWithLine(reply.ToString(), finalLines))
        {
            var n = await stream.ReadAsync(buffer, timeout.Token);
            if (n == 0)
            {
                throw new IOException($"memcached on {Endpoint} closed the connection during '{command}'.");
            }

            reply.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return reply.ToString();
    }

    /// <summary>True when the last whole line of <paramref name="reply"/> is one of <paramref name="lines"/> (not merely ends with it).</summary>
    private static bool EndsWithLine(string reply, string[] lines) =>
        lines.Any(line => reply.EndsWith(line + "\r\n", StringComparison.Ordinal)
            && (reply.Length == line.Length + 2 || reply[reply.Length - line.Length - 3] == '\n'));

    protected override async Task<int?> AnsweringPidAsync() =>
        int.TryParse(await StatAsync("pid"), CultureInfo.InvariantCulture, out var pid) ? pid : null;
}
