using Coherent.Lab.Proof;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>The test fixture's redis-server, as the proof's fault schedule drives it.</summary>
internal sealed class FixtureServer(RedisServer server) : IFaultableServer
{
    public string Endpoint => server.Endpoint;

    public void Pause() => server.Pause();

    public void Resume() => server.Resume();

    public void Kill() => server.Kill();

    public Task StartAsync() => server.StartProcessAsync();

    public static async Task<RedisServer> StartOwnAsync(params string[] args)
    {
        if (!RedisServer.Available)
        {
            Assert.Skip(RedisServer.SkipReason!);
        }

        return await RedisServer.StartAsync(args);
    }
}
