using Coherent.Lab.Proof;
using StackExchange.Redis;

namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>
/// A throwaway redis-server on a free loopback port for the tests: the lab's <see cref="RedisProcess"/> (one launcher for
/// both) with the fixture's conveniences (availability, admin commands, connections as a given ACL user).
/// </summary>
public sealed class RedisServer : IAsyncDisposable, ITestServer
{
    private readonly RedisProcess _process;

    private RedisServer(RedisProcess process) => _process = process;

    public int Port => _process.Port;

    public string Endpoint => _process.Endpoint;

    public int Pid => _process.Pid;

    /// <summary>The lab's process, for the fault schedule.</summary>
    public IFaultableServer Process => _process;

    /// <summary>True when redis-server is installed (set COHERENT_NO_REDIS=1 to run only the Garnet-compatible subset).</summary>
    public static bool Available => Environment.GetEnvironmentVariable("COHERENT_NO_REDIS") != "1" && RedisProcess.Binary is not null;

    public static string? SkipReason => Available ? null : "redis-server is not installed (apt-get install redis-server); .ci/run installs it";

    public static async Task<RedisServer> StartAsync(params string[] extraArgs) => new(await RedisProcess.StartNewAsync(extraArgs));

    /// <summary>Starts the process again on the same port after <see cref="Kill"/>.</summary>
    public Task StartProcessAsync() => _process.StartAsync();

    /// <summary>SIGKILL: the server vanishes (connections reset).</summary>
    public void Kill() => _process.Kill();

    /// <summary>Starts again on the same port (empty: nothing was persisted).</summary>
    public Task RestartAsync() => _process.RestartAsync();

    /// <summary>SIGSTOP: the server freezes, connections stay open (half-dead peer).</summary>
    public void Pause() => _process.Pause();

    /// <summary>SIGCONT.</summary>
    public void Resume() => _process.Resume();

    /// <summary>Runs a command through a short-lived admin connection.</summary>
    public Task<RedisResult> ExecAsync(string command, params object[] args) => RedisAdmin.ExecAsync(Endpoint, command, args);

    public Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = false, string? user = null, string? password = null) =>
        ConnectionMultiplexer.ConnectAsync(Options(Endpoint, allowAdmin, user, password));

    public static ConfigurationOptions Options(string endpoint, bool allowAdmin = false, string? user = null, string? password = null) =>
        RedisAdmin.Options(endpoint, allowAdmin, user, password);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
