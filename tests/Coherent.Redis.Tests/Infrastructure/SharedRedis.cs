namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>
/// One redis-server shared by the tests that do not break it; each test uses its own key prefix. Without redis-server,
/// the Garnet-compatible tests (<see cref="RequireAny"/>) run on an embedded Garnet and the others are skipped.
/// </summary>
public sealed class SharedRedis : IAsyncLifetime
{
    private GarnetTestServer? _garnet;

    public RedisProcess? Server { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (RedisProcess.Available)
        {
            Server = await RedisProcess.StartNewAsync();
        }
        else
        {
            _garnet = GarnetTestServer.Start();
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
    public ITestServer RequireAny() => (ITestServer?)Server ?? _garnet!;

    /// <summary>The shared server, or skips the test when redis-server is missing.</summary>
    public RedisProcess Require()
    {
        RedisProcess.RequireInstalled();
        return Server!;
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<SharedRedis>
{
    public const string Name = "redis";
}
