namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>One redis-server shared by the tests that do not break it; each test uses its own key prefix.</summary>
public sealed class SharedRedis : IAsyncLifetime
{
    public RedisServer? Server { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (RedisServer.Available)
        {
            Server = await RedisServer.StartAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    /// <summary>The shared server, or skips the test when redis-server is missing.</summary>
    public RedisServer Require()
    {
        if (Server is null)
        {
            Assert.Skip(RedisServer.SkipReason!);
        }

        return Server;
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<SharedRedis>
{
    public const string Name = "redis";
}
