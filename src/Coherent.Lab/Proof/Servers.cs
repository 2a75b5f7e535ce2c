using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
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

    public static async Task<RedisProcess> StartNewAsync(params string[] extraArgs)
    {
        var server = new RedisProcess(EmbeddedGarnet.FreePort(), extraArgs);
        await server.StartAsync();
        return server;
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

/// <summary>
/// A loopback TCP proxy in front of a server, one per node, so one node can be cut off from L2 alone: while partitioned,
/// bytes are held in both directions (a black hole, like a dropped network path); healing resets the connections that
/// were cut (as TCP eventually does) and lets new ones through.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<string> _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(TcpClient Client, TcpClient Server, CancellationTokenSource Cts)> _connections = [];
    private readonly Lock _lock = new();
    private volatile bool _partitioned;
    private readonly Task _accepting;

    public TcpProxy(Func<string> upstream)
    {
        _upstream = upstream;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptLoopAsync();
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public bool Partitioned => _partitioned;

    public void Partition() => _partitioned = true;

    public void Heal()
    {
        List<(TcpClient Client, TcpClient Server, CancellationTokenSource Cts)> cut;
        lock (_lock)
        {
            cut = [.. _connections];
            _connections.Clear();
        }

        foreach (var (client, server, cts) in cut)
        {
            cts.Cancel();
            client.Dispose();
            server.Dispose();
        }

        _partitioned = false;
    }

    public static async Task WaitForPortAsync(int port, TimeSpan timeout)
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

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ConnectAsync(client));
        }
    }

    private async Task ConnectAsync(TcpClient client)
    {
        var server = new TcpClient { NoDelay = true };
        client.NoDelay = true;
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        try
        {
            var upstream = IPEndPoint.Parse(_upstream());
            await server.ConnectAsync(upstream.Address, upstream.Port, cts.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            client.Dispose();
            server.Dispose();
            cts.Dispose();
            return;
        }

        lock (_lock)
        {
            _connections.Add((client, server, cts));
        }

        _ = PumpAsync(client, server, cts);
        _ = PumpAsync(server, client, cts);
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, CancellationTokenSource cts)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var source = from.GetStream();
            var target = to.GetStream();
            int n;
            while ((n = await source.ReadAsync(buffer, cts.Token)) > 0)
            {
                while (_partitioned)
                {
                    await Task.Delay(5, cts.Token);
                }

                await target.WriteAsync(buffer.AsMemory(0, n), cts.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }

        // One side closed: close both (the other pump ends too) and forget the pair.
        from.Dispose();
        to.Dispose();
        lock (_lock)
        {
            _connections.RemoveAll(c => c.Client == from || c.Server == from);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Heal();
        await _accepting;
        _stop.Dispose();
    }
}

/// <summary>Redis Cluster with replicas, for the failover fault: creation and a coordinated failover of one master.</summary>
public static class ClusterControl
{
    /// <summary>Creates a cluster of the given (already running, cluster-enabled) servers with one replica per master.</summary>
    public static async Task CreateAsync(IReadOnlyList<string> endpoints, int replicasPerMaster, TimeSpan timeout)
    {
        var info = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        string[] args = ["--cluster", "create", .. endpoints, "--cluster-replicas", replicasPerMaster.ToString(CultureInfo.InvariantCulture), "--cluster-yes"];
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using (var create = Process.Start(info)!)
        {
            var output = await create.StandardOutput.ReadToEndAsync();
            await create.WaitForExitAsync();
            if (create.ExitCode != 0)
            {
                throw new InvalidOperationException("redis-cli --cluster create failed: " + output);
            }
        }

        var watch = Stopwatch.StartNew();
        while (true)
        {
            var ok = 0;
            foreach (var endpoint in endpoints)
            {
                var state = (string?)await RedisAdmin.ExecAsync(endpoint, "CLUSTER", "INFO");
                ok += state?.Contains("cluster_state:ok", StringComparison.Ordinal) == true ? 1 : 0;
            }

            if (ok == endpoints.Count && await ReplicasInSyncAsync(endpoints))
            {
                return;
            }

            if (watch.Elapsed > timeout)
            {
                throw new InvalidOperationException($"cluster did not become ok within {timeout}");
            }

            await Task.Delay(200);
        }
    }

    private static async Task<bool> ReplicasInSyncAsync(IReadOnlyList<string> endpoints)
    {
        foreach (var endpoint in endpoints)
        {
            var info = (string?)await RedisAdmin.ExecAsync(endpoint, "INFO", "replication");
            if (info?.Contains("role:slave", StringComparison.Ordinal) == true && !info.Contains("master_link_status:up", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Kills one master (SIGKILL, no handover), waits until its replica has been elected in its place and the cluster is
    /// ok again, then restarts the killed process (it rejoins as a replica, empty). Returns the endpoint killed.
    /// </summary>
    public static async Task<string> KillMasterAsync(IReadOnlyList<IFaultableServer> servers, TimeSpan timeout)
    {
        IFaultableServer? victim = null;
        foreach (var server in servers)
        {
            var role = (string?)await RedisAdmin.ExecAsync(server.Endpoint, "INFO", "replication");
            if (role?.Contains("role:master", StringComparison.Ordinal) == true && role.Contains("connected_slaves:1", StringComparison.Ordinal))
            {
                victim = server;
                break;
            }
        }

        if (victim is null)
        {
            throw new InvalidOperationException("no master with a replica to kill");
        }

        // Let the replica catch up first (WAIT): the fault is the master's death and the election, not the loss of writes it
        // acknowledged but had not replicated yet — that loss is real with asynchronous replication, and documented.
        try
        {
            await RedisAdmin.ExecAsync(victim.Endpoint, "WAIT", 1, 500);
        }
        catch (RedisException)
        {
        }

        victim.Kill();
        var survivors = servers.Where(s => s != victim).ToList();
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var masters = 0;
            var ok = false;
            foreach (var server in survivors)
            {
                try
                {
                    var role = (string?)await RedisAdmin.ExecAsync(server.Endpoint, "INFO", "replication");
                    masters += role?.Contains("role:master", StringComparison.Ordinal) == true ? 1 : 0;
                    ok |= ((string?)await RedisAdmin.ExecAsync(server.Endpoint, "CLUSTER", "INFO"))?.Contains("cluster_state:ok", StringComparison.Ordinal) == true;
                }
                catch (RedisException)
                {
                }
            }

            if (masters == 3 && ok)
            {
                break;
            }

            if (watch.Elapsed > timeout)
            {
                throw new InvalidOperationException($"no replica took over from {victim.Endpoint} within {timeout}");
            }

            await Task.Delay(100);
        }

        await victim.StartAsync();
        return victim.Endpoint;
    }

    /// <summary>
    /// Runs <c>CLUSTER FAILOVER</c> on one replica (its master hands over without losing acknowledged writes) and waits
    /// until it is a master. Returns the endpoint promoted.
    /// </summary>
    public static async Task<string> FailoverOneAsync(IReadOnlyList<string> endpoints, TimeSpan timeout)
    {
        string? replica = null;
        foreach (var endpoint in endpoints)
        {
            var role = (string?)await RedisAdmin.ExecAsync(endpoint, "INFO", "replication");
            if (role?.Contains("role:slave", StringComparison.Ordinal) == true)
            {
                replica = endpoint;
                break;
            }
        }

        if (replica is null)
        {
            throw new InvalidOperationException("no replica to promote");
        }

        await RedisAdmin.ExecAsync(replica, "CLUSTER", "FAILOVER");
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            var role = (string?)await RedisAdmin.ExecAsync(replica, "INFO", "replication");
            if (role?.Contains("role:master", StringComparison.Ordinal) == true)
            {
                return replica;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"failover of {replica} did not complete within {timeout}");
    }
}
