using System.Globalization;
using StackExchange.Redis;

namespace Coherent.Testing;

/// <summary>
/// A throwaway redis-server on a free loopback port (<c>--save '' --appendonly no</c>: nothing persisted): the one launcher
/// of the tests, the bench and the lab.
/// </summary>
public sealed class RedisProcess : ServerProcess, ITestServer
{
    private readonly string[] _extraArgs;

    private RedisProcess(int port, string[] extraArgs)
        : base("redis", port) => _extraArgs = extraArgs;

    /// <summary>The redis-server binary, or null when it is not installed.</summary>
    public static string? InstalledBinary { get; } = Find("redis-server");

    /// <summary>True when redis-server is installed (set COHERENT_NO_REDIS=1 to run only the Garnet-compatible subset).</summary>
    public static bool Available => Environment.GetEnvironmentVariable("COHERENT_NO_REDIS") != "1" && InstalledBinary is not null;

    public static string? SkipReason => Available ? null : "redis-server is not installed (apt-get install redis-server); .ci/run installs it";

    protected override string Binary => InstalledBinary ?? throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server).");

    /// <summary>Starts a redis-server on a free loopback port, with <paramref name="extraArgs"/> after the harness's own.</summary>
    public static Task<RedisProcess> StartNewAsync(params string[] extraArgs) => StartOnFreePortAsync(port => new RedisProcess(port, extraArgs));

    /// <summary>For a test: starts a redis-server of its own, or skips (fails where servers are required) when it is missing.</summary>
    public static Task<RedisProcess> StartForTestAsync(params string[] extraArgs)
    {
        RequireInstalled();
        return StartNewAsync(extraArgs);
    }

    /// <summary>Skips the test (fails where servers are required) when redis-server is missing.</summary>
    public static void RequireInstalled()
    {
        if (!Available)
        {
            MissingServer.Skip(SkipReason!);
        }
    }

    protected override IEnumerable<string> Arguments() =>
        new[] { "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Folder, "--protected-mode", "no" }.Concat(_extraArgs);

    protected override async Task<int?> AnsweringPidAsync()
    {
        var info = (string?)await ExecAsync("INFO", "server") ?? "";
        var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("process_id:", StringComparison.Ordinal));
        return line is not null && int.TryParse(line["process_id:".Length..].Trim(), CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    /// <summary>Runs a command through a short-lived admin connection.</summary>
    public Task<RedisResult> ExecAsync(string command, params object[] args) => RedisAdmin.ExecAsync(Endpoint, command, args);

    public Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = false, string? user = null, string? password = null) =>
        RedisAdmin.ConnectAsync(Endpoint, allowAdmin, user, password);
}
