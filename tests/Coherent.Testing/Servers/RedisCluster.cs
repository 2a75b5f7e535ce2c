namespace Coherent.Testing;

/// <summary>A throwaway Redis Cluster on loopback (3 masters, optionally a replica each), torn down on dispose.</summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<RedisProcess> _nodes = [];

    public IReadOnlyList<RedisProcess> Nodes => _nodes;

    public IReadOnlyList<string> Endpoints => _nodes.Select(n => n.Endpoint).ToList();

    /// <summary>Every node, comma-separated: a StackExchange.Redis configuration string.</summary>
    public string Configuration => string.Join(",", Endpoints);

    /// <summary>Starts 3 masters with <paramref name="replicasPerMaster"/> replicas each and waits until the cluster is ok.</summary>
    public static async Task<RedisCluster> StartAsync(int replicasPerMaster = 0, TimeSpan? timeout = null)
    {
        var cluster = new RedisCluster();
        try
        {
            for (var i = 0; i < 3 * (1 + replicasPerMaster); i++)
            {
                cluster._nodes.Add(await RedisProcess.StartNewAsync("--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{i}.conf", "--cluster-node-timeout", "2000"));
            }

            await ClusterControl.CreateAsync(cluster.Endpoints, replicasPerMaster, timeout ?? TimeSpan.FromSeconds(20 + (10 * replicasPerMaster)));
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
