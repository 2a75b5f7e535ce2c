using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Coherent.Testing;

/// <summary>
/// A throwaway server process (redis-server, memcached) on a free loopback port, in a temporary folder of its own: nothing
/// persisted, killed on dispose and on process exit. Subclasses say which binary, which arguments, and how to ask the
/// server which process answered.
/// </summary>
public abstract class ServerProcess : IFaultableServer, IAsyncDisposable
{
    private readonly string _dir;
    private Process? _process;

    protected ServerProcess(string name, int port)
    {
        Port = port;
        _dir = Directory.CreateTempSubdirectory($"coherent-{name}-").FullName;
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public int Pid => _process?.Id ?? 0;

    /// <summary>The temporary folder the server runs in (removed on dispose).</summary>
    protected string Folder => _dir;

    /// <summary>The binary to run; throws with the install hint when it is missing.</summary>
    protected abstract string Binary { get; }

    protected abstract IEnumerable<string> Arguments();

    /// <summary>The process id the server on <see cref="Port"/> reports, or null when it cannot say.</summary>
    protected abstract Task<int?> AnsweringPidAsync();

    /// <summary>The binary <paramref name="name"/> in /usr/bin, else on PATH, or null when it is not installed.</summary>
    public static string? Find(string name) => File.Exists("/usr/bin/" + name) ? "/usr/bin/" + name
        : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>
    /// Starts a server on a free loopback port. A port found free can be taken by a parallel test before this server binds
    /// it: the port then answers, but not from this process (which exits). So the answering server's process id is checked,
    /// and the start retried on another port, three times at most.
    /// </summary>
    protected static async Task<T> StartOnFreePortAsync<T>(Func<int, T> create)
        where T : ServerProcess
    {
        for (var attempt = 1; ; attempt++)
        {
            var server = create(Ports.Free());
            Exception? failure = null;
            try
            {
                await server.StartAsync();
                if (server._process is { HasExited: false } process && await server.AnsweringPidAsync() == process.Id)
                {
                    return server;
                }
            }
            // A server of another kind on the port may never answer the check: its timeout (OperationCanceledException) is a retry too.
            catch (Exception ex) when (ex is InvalidOperationException or IOException or SocketException or OperationCanceledException or StackExchange.Redis.RedisException)
            {
                failure = ex;
            }

            await server.DisposeAsync();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"{typeof(T).Name} did not start on a port of its own in 3 attempts (last port {server.Port}).", failure);
            }
        }
    }

    /// <summary>Starts the process (again) on <see cref="Port"/> and waits until it listens.</summary>
    public async Task StartAsync()
    {
        var info = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
        foreach (var arg in Arguments())
        {
            info.ArgumentList.Add(arg);
        }

        var process = _process = Process.Start(info)!;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillQuietly(process); // a crashed or aborted run leaves no server behind
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Ports.WaitForListenerAsync(Port, TimeSpan.FromSeconds(10));
    }

    /// <summary>Kills the server and starts it again on the same port (empty: nothing was persisted).</summary>
    public Task RestartAsync()
    {
        Kill();
        return StartAsync();
    }

    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    /// <summary>SIGKILL (kill -9), and waits for the process to be gone.</summary>
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

        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
