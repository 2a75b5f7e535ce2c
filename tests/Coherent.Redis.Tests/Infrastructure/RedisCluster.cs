using Coherent.Lab.Proof;

namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>A throwaway 3-master Redis Cluster on loopback (no replicas), torn down on dispose.</summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<RedisServer> _nodes = [];

    public IReadOnlyList<RedisServer> Nodes => _nodes;

    public string Configuration => string.Join(",", _nodes.Select(n => n.Endpoint));

    public static async Task<RedisCluster> StartAsync()
    {
        var cluster = new RedisCluster();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                cluster._nodes.Add(await RedisServer.StartAsync("--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{i}.conf", "--cluster-node-timeout", "2000"));
            }

            await ClusterControl.CreateAsync(cluster._nodes.Select(n => n.Endpoint).ToList(), replicasPerMaster: 0, TimeSpan.FromSeconds(20));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }
}
