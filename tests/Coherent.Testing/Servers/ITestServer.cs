using StackExchange.Redis;

namespace Coherent.Testing;

/// <summary>A Redis-compatible server the tests can reach: a redis-server process or the embedded Garnet.</summary>
public interface ITestServer
{
    string Endpoint { get; }

    int Port { get; }

    Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = false, string? user = null, string? password = null);
}

/// <summary>The embedded Garnet as a test server (where redis-server is missing, and for the Garnet tests).</summary>
public sealed class GarnetTestServer(EmbeddedGarnet garnet) : ITestServer, IDisposable
{
    public EmbeddedGarnet Garnet => garnet;

    public string Endpoint => garnet.ConnectionString;

    public int Port => garnet.Port;

    /// <summary>Starts an embedded Garnet on a free loopback port.</summary>
    public static GarnetTestServer Start() => new(EmbeddedGarnet.Start());

    public Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = false, string? user = null, string? password = null) =>
        RedisAdmin.ConnectAsync(Endpoint, allowAdmin, user, password);

    public void Dispose() => garnet.Dispose();
}
