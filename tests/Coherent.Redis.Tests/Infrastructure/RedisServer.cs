using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>A throwaway redis-server process on a free loopback port: nothing persisted, killed on dispose.</summary>
public sealed class RedisServer : IAsyncDisposable, ITestServer
{
    public const string Binary = "/usr/bin/redis-server";
    private readonly string[] _extraArgs;
    private readonly string _dir;
    private Process? _process;

    private RedisServer(int port, string[] extraArgs)
    {
        Port = port;
        _extraArgs = extraArgs;
        _dir = Directory.CreateTempSubdirectory("coherent-redis-").FullName;
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public int Pid => _process?.Id ?? 0;

    /// <summary>True when redis-server is installed (set COHERENT_NO_REDIS=1 to run only the Garnet-compatible subset).</summary>
    public static bool Available => Environment.GetEnvironmentVariable("COHERENT_NO_REDIS") != "1" && (File.Exists(Binary) || FindOnPath("redis-server") is not null);

    public static string? SkipReason => Available ? null : "redis-server is not installed (apt-get install redis-server); .ci/run installs it";

    public static async Task<RedisServer> StartAsync(params string[] extraArgs)
    {
        var server = new RedisServer(EmbeddedGarnet.FreePort(), extraArgs);
        await server.StartProcessAsync();
        return server;
    }

    public async Task StartProcessAsync()
    {
        var info = new ProcessStartInfo(File.Exists(Binary) ? Binary : FindOnPath("redis-server")!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _dir, "--protected-mode", "no" }.Concat(_extraArgs))
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info)!;
        var started = _process;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                if (!started.HasExited)
                {
                    started.Kill();
                }
            }
            catch (InvalidOperationException)
            {
            }
        };
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(20);
            }
        }

        throw new InvalidOperationException($"redis-server did not start on port {Port}");
    }

    /// <summary>SIGKILL: the server vanishes (connections reset).</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    /// <summary>Starts again on the same port (empty: nothing was persisted).</summary>
    public Task RestartAsync()
    {
        Kill();
        return StartProcessAsync();
    }

    /// <summary>SIGSTOP: the server freezes, connections stay open (half-dead peer).</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT.</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Runs a command through a short-lived admin connection.</summary>
    public async Task<RedisResult> ExecAsync(string command, params object[] args)
    {
        await using var admin = await ConnectAsync(allowAdmin: true);
        return await admin.GetServer(Endpoint).ExecuteAsync(command, args);
    }

    public Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = false, string? user = null, string? password = null) =>
        ConnectionMultiplexer.ConnectAsync(Options(Endpoint, allowAdmin, user, password));

    public static ConfigurationOptions Options(string endpoint, bool allowAdmin = false, string? user = null, string? password = null)
    {
        var options = ConfigurationOptions.Parse(endpoint);
        options.AbortOnConnectFail = false;
        options.AllowAdmin = allowAdmin;
        options.ConnectTimeout = 2000;
        options.AsyncTimeout = 1000;
        options.SyncTimeout = 1000;
        options.ConnectRetry = 1;
        options.ReconnectRetryPolicy = new LinearRetry(100);
        options.Protocol = RedisProtocol.Resp2; // separate subscription connection, as CLIENT KILL TYPE pubsub expects
        options.User = user;
        options.Password = password;
        return options;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            try
            {
                Resume();
            }
            catch (InvalidOperationException)
            {
            }
        }

        Kill();
        _process?.Dispose();
        await Task.Yield();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
