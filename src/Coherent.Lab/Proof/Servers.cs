using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Coherent.Lab.Proof;

/// <summary>A real redis-server process the fault schedule can pause, kill and restart (the tests adapt their fixture to it).</summary>
public interface IFaultableServer
{
    string Endpoint { get; }

    /// <summary>SIGSTOP: frozen, connections stay open.</summary>
    void Pause();

    /// <summary>SIGCONT.</summary>
    void Resume();

    /// <summary>SIGKILL: gone, connections reset, nothing persisted.</summary>
    void Kill();

    /// <summary>Starts the process again on the same port.</summary>
    Task StartAsync();
}

/// <summary>Admin commands against one server, over a short-lived connection.</summary>
public static class RedisAdmin
{
    public static async Task<RedisResult> ExecAsync(string endpoint, string command, params object[] args)
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync(Options(endpoint, allowAdmin: true));
        return await admin.GetServer(endpoint).ExecuteAsync(command, args);
    }

    /// <summary>
    /// The connection options the proof and the test fixtures use: RESP2 (a separate subscription connection, as CLIENT KILL
    /// TYPE pubsub expects), short timeouts, loopback.
    /// </summary>
    public static ConfigurationOptions Options(string endpoints, bool allowAdmin = false, string? user = null, string? password = null)
    {
        var options = ConfigurationOptions.Parse(endpoints);
        options.AbortOnConnectFail = false;
        options.AllowAdmin = allowAdmin;
        options.ConnectTimeout = 2000;
        options.AsyncTimeout = 1000;
        options.SyncTimeout = 1000;
        options.ConnectRetry = 1;
        options.ReconnectRetryPolicy = new LinearRetry(100);
        options.Protocol = RedisProtocol.Resp2;
        options.User = user;
        options.Password = password;
        return options;
    }

    public static bool RedisServerInstalled => RedisProcess.Binary is not null;
}

/// <summary>A throwaway redis-server on a free loopback port: nothing persisted, killed on dispose (and on process exit).
/// The one launcher of the lab and the test fixtures.</summary>
public sealed class RedisProcess : IFaultableServer, IAsyncDisposable
{
    private readonly string[] _extraArgs;
    private readonly string _dir = Directory.CreateTempSubdirectory("coherent-redis-").FullName;
    private Process? _process;

    private RedisProcess(int port, string[] extraArgs)
    {
        Port = port;
        _extraArgs = extraArgs;
    }

    /// <summary>The redis-server binary (/usr/bin, else PATH), or null when it is not installed.</summary>
    public static string? Binary { get; } = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server"
        : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public int Pid => _process?.Id ?? 0;

    /// <summary>
    /// Starts a redis-server on a free loopback port. A port found free can be taken by a parallel test before this
    /// server binds it: the port then answers, but not from this process (which exits). So the answering server's
    /// process id is checked, and the start retried on another port, three times at most.
    /// </summary>
    public static async Task<RedisProcess> StartNewAsync(params string[] extraArgs)
    {
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisProcess(EmbeddedGarnet.FreePort(), extraArgs);
            Exception? failure = null;
            try
            {
                await server.StartAsync();
                if (await server.IsTheOneAnsweringAsync())
                {
                    return server;
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or RedisException or System.Net.Sockets.SocketException)
            {
                failure = ex;
            }

            await server.DisposeAsync();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"redis-server did not start on a port of its own in 3 attempts (last port {server.Port}).", failure);
            }
        }
    }

    private async Task<bool> IsTheOneAnsweringAsync()
    {
        if (_process is not { HasExited: false } process)
        {
            return false;
        }

        var info = (string?)await RedisAdmin.ExecAsync(Endpoint, "INFO", "server") ?? "";
        var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("process_id:", StringComparison.Ordinal));
        return line is not null && line["process_id:".Length..].Trim() == process.Id.ToString(CultureInfo.InvariantCulture);
    }

    public async Task StartAsync()
    {
        var binary = Binary ?? throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server).");
        var info = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
        foreach (var arg in new[] { "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _dir, "--protected-mode", "no" }.Concat(_extraArgs))
        {
            info.ArgumentList.Add(arg);
        }

        var process = _process = Process.Start(info)!;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillQuietly(process); // a crashed or aborted run leaves no server behind
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await TcpProxy.WaitForPortAsync(Port, TimeSpan.FromSeconds(10));
    }

    /// <summary>Kills the server and starts it again on the same port (empty: nothing was persisted).</summary>
    public Task RestartAsync()
    {
        Kill();
        return StartAsync();
    }

    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
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
        Resume();
        Kill();
        _process?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }
}
