using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Coherent.Memcached.Tests.Infrastructure;

/// <summary>
/// A throwaway memcached on a free loopback port, with the faults the tests inject: SIGKILL, SIGSTOP/SIGCONT and a restart
/// on the same port (empty: memcached keeps nothing). Everything the tests need from a launcher is in this one file, so it
/// can be swapped for the shared harness's. When memcached is missing, <see cref="RequireInstalled"/> skips the test with
/// the reason, or fails it when COHERENT_REQUIRE_SERVERS=1 (as CI sets).
/// </summary>
public sealed class MemcachedProcess : IAsyncDisposable
{
    private readonly string[] _extraArgs;
    private Process? _process;

    private MemcachedProcess(int port, string[] extraArgs)
    {
        Port = port;
        _extraArgs = extraArgs;
    }

    /// <summary>The memcached binary (/usr/bin, else PATH), or null.</summary>
    public static string? Binary { get; } = File.Exists("/usr/bin/memcached") ? "/usr/bin/memcached"
        : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, "memcached")).FirstOrDefault(File.Exists);

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public int Pid => _process?.Id ?? 0;

    /// <summary>Skips (or, with COHERENT_REQUIRE_SERVERS=1, fails) the calling test when memcached is not installed.</summary>
    public static void RequireInstalled()
    {
        if (Binary is not null)
        {
            return;
        }

        const string reason = "memcached is not installed (apt-get install memcached); .ci/run installs it";
        if (Environment.GetEnvironmentVariable("COHERENT_REQUIRE_SERVERS") == "1")
        {
            Assert.Fail($"{reason} (COHERENT_REQUIRE_SERVERS=1: a missing server fails the test instead of skipping it)");
        }

        Assert.Skip(reason);
    }

    /// <summary>
    /// Starts memcached on a free port. A port found free can be taken by a parallel process before memcached binds it, so the
    /// answering server's pid is checked and the start retried on another port (three attempts).
    /// </summary>
    public static async Task<MemcachedProcess> StartAsync(params string[] extraArgs)
    {
        RequireInstalled();
        for (var attempt = 1; ; attempt++)
        {
            var server = new MemcachedProcess(FreePort(), extraArgs);
            try
            {
                await server.StartProcessAsync();
                if (await server.StatAsync("pid") == server.Pid.ToString(CultureInfo.InvariantCulture))
                {
                    return server;
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or TimeoutException or InvalidOperationException && attempt < 3)
            {
            }

            await server.DisposeAsync();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"memcached did not start on a port of its own in 3 attempts (last port {server.Port}).");
            }
        }
    }

    /// <summary>Starts the process (again) on this port and waits until it answers.</summary>
    public async Task StartProcessAsync()
    {
        var info = new ProcessStartInfo(Binary!) { RedirectStandardOutput = true, RedirectStandardError = true };
        var args = new List<string> { "-l", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "0", "-m", "64" };
        if (Environment.UserName == "root")
        {
            args.AddRange(["-u", "root"]);
        }

        foreach (var arg in args.Concat(_extraArgs))
        {
            info.ArgumentList.Add(arg);
        }

        var process = _process = Process.Start(info)!;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillQuietly(process); // an aborted run leaves no server behind
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                await CommandAsync("mn", "MN");
                return;
            }
            catch (Exception ex) when ((ex is SocketException or IOException) && DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(20);
            }
        }
    }

    /// <summary>SIGKILL: the server vanishes (connections reset).</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            Resume();
            _process.Kill();
            _process.WaitForExit();
        }
    }

    /// <summary>Kills the server and starts it again on the same port, empty.</summary>
    public Task RestartAsync()
    {
        Kill();
        return StartProcessAsync();
    }

    /// <summary>SIGSTOP: the server freezes; the kernel still accepts connections and buffers requests.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT.</summary>
    public void Resume() => Signal("CONT");

    /// <summary>One line of <c>stats</c> (e.g. <c>cmd_set</c>, <c>curr_items</c>, <c>pid</c>).</summary>
    public async Task<string?> StatAsync(string name)
    {
        var answer = await CommandAsync("stats", "END");
        return answer.Split("\r\n").Select(l => l.Split(' ')).FirstOrDefault(p => p is ["STAT", var n, _] && n == name)?[2];
    }

    /// <summary>Sends a text command on a fresh connection and returns the answer up to the line <paramref name="finalLine"/>.</summary>
    public async Task<string> CommandAsync(string command, string finalLine)
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), timeout.Token);
        var answer = new StringBuilder();
        var buffer = new byte[8192];
        while (!answer.ToString().EndsWith(finalLine + "\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                throw new IOException($"memcached on {Port} closed the connection during '{command}'.");
            }

            answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return answer.ToString();
    }

    private void Signal(string signal)
    {
        if (_process is not { HasExited: false })
        {
            return;
        }

        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static void KillQuietly(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process?.Dispose();
        return ValueTask.CompletedTask;
    }
}
