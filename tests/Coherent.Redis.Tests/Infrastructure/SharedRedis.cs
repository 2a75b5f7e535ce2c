using StackExchange.Redis;

namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>A server the tests can reach: a redis-server process or the embedded Garnet.</summary>
public interface ITestServer
{
    string Endpoint { get; }

    int Port { get; }

    Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = false, string? user = null, string? password = null);
}

/// <summary>The embedded Garnet as a test server (used when redis-server is missing).</summary>
public sealed class GarnetTestServer(EmbeddedGarnet garnet) : ITestServer
{
    public string Endpoint => garnet.ConnectionString;

    public int Port => garnet.Port;

    public Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = false, string? user = null, string? password = null) =>
        ConnectionMultiplexer.ConnectAsync(RedisServer.Options(Endpoint, allowAdmin, user, password));
}

/// <summary>
/// One redis-server shared by the tests that do not break it; each test uses its own key prefix. Without redis-server,
/// the Garnet-compatible tests (<see cref="RequireAny"/>) run on an embedded Garnet and the others are skipped.
/// </summary>
public sealed class SharedRedis : IAsyncLifetime
{
    private EmbeddedGarnet? _garnet;
    private GarnetTestServer? _garnetServer;

    public RedisServer? Server { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (RedisServer.Available)
        {
            Server = await RedisServer.StartAsync();
        }
        else
        {
            _garnet = EmbeddedGarnet.Start();
            _garnetServer = new GarnetTestServer(_garnet);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        _garnet?.Dispose();
    }

    /// <summary>redis-server if installed, else the embedded Garnet: for tests that use only strings, Lua and pub/sub.</summary>
    public ITestServer RequireAny() => (ITestServer?)Server ?? _garnetServer!;

    /// <summary>The shared server, or skips the test when redis-server is missing.</summary>
    public RedisServer Require()
    {
        if (Server is null)
        {
            MissingServer.Skip(RedisServer.SkipReason!);
        }

        return Server;
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<SharedRedis>
{
    public const string Name = "redis";
}
