using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>Starts a test's own redis-server, or skips the test with the reason when redis-server is not installed.</summary>
internal static class FixtureServer
{
    public static async Task<RedisServer> StartOwnAsync(params string[] args)
    {
        if (!RedisServer.Available)
        {
            MissingServer.Skip(RedisServer.SkipReason!);
        }

        return await RedisServer.StartAsync(args);
    }
}
