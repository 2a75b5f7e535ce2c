using System.Diagnostics;
using System.Globalization;

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
        for (var i = 0; i < 3; i++)
        {
            cluster._nodes.Add(await RedisServer.StartAsync("--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{i}.conf", "--cluster-node-timeout", "2000"));
        }

        var info = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("--cluster");
        info.ArgumentList.Add("create");
        foreach (var node in cluster._nodes)
        {
            info.ArgumentList.Add(node.Endpoint);
        }

        info.ArgumentList.Add("--cluster-replicas");
        info.ArgumentList.Add("0");
        info.ArgumentList.Add("--cluster-yes");
        using (var create = Process.Start(info)!)
        {
            var output = await create.StandardOutput.ReadToEndAsync();
            await create.WaitForExitAsync();
            if (create.ExitCode != 0)
            {
                throw new InvalidOperationException("redis-cli --cluster create failed: " + output);
            }
        }

        // Wait until every node reports the cluster as ok.
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            var ok = 0;
            foreach (var node in cluster._nodes)
            {
                var state = (string?)await node.ExecAsync("CLUSTER", "INFO");
                if (state?.Contains("cluster_state:ok", StringComparison.Ordinal) == true)
                {
                    ok++;
                }
            }

            if (ok == cluster._nodes.Count)
            {
                return cluster;
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("cluster did not become ok within 20 s (" + string.Join(",", cluster._nodes.Select(n => n.Port.ToString(CultureInfo.InvariantCulture))) + ")");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }
}
