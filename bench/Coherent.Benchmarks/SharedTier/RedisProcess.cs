using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// A throwaway <c>redis-server</c> on a free loopback port (nothing persisted), started by the benchmark itself and killed
/// on dispose. Every shared-tier case runs against one of these, never against a server someone else uses.
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    public const string Binary = "/usr/bin/redis-server";
    private readonly Process _process;
    private readonly string _dir;

    private RedisProcess(Process process, int port, string dir)
    {
        _process = process;
        Port = port;
        _dir = dir;
    }

    public int Port { get; }

    /// <summary>StackExchange.Redis configuration string for this server (defaults otherwise, the same for every peer).</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    public int Pid => _process.Id;

    public static async Task<RedisProcess> StartAsync()
    {
        var port = FreePort();
        var dir = Directory.CreateTempSubdirectory("coherent-bench-redis-").FullName;
        var info = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir,
        };
        foreach (var arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no" })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RedisProcess(process, port, dir);
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(20);
            }
        }

        await server.DisposeAsync();
        throw new InvalidOperationException($"redis-server did not listen on port {port} within 10 s");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
