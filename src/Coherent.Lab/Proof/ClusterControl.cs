using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Coherent.Lab.Proof;

/// <summary>Redis Cluster with replicas, for the failover fault: creation and a coordinated failover of one master.</summary>
public static class ClusterControl
{
    /// <summary>Creates a cluster of the given (already running, cluster-enabled) servers with one replica per master.</summary>
    public static async Task CreateAsync(IReadOnlyList<string> endpoints, int replicasPerMaster, TimeSpan timeout)
    {
        var info = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        string[] args = ["--cluster", "create", .. endpoints, "--cluster-replicas", replicasPerMaster.ToString(CultureInfo.InvariantCulture), "--cluster-yes"];
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using (var create = Process.Start(info)!)
        {
            var output = await create.StandardOutput.ReadToEndAsync();
            await create.WaitForExitAsync();
            if (create.ExitCode != 0)
            {
                throw new InvalidOperationException("redis-cli --cluster create failed: " + output);
            }
        }

        var watch = Stopwatch.StartNew();
        while (true)
        {
            var ok = 0;
            foreach (var endpoint in endpoints)
            {
                var state = (string?)await RedisAdmin.ExecAsync(endpoint, "CLUSTER", "INFO");
                ok += state?.Contains("cluster_state:ok", StringComparison.Ordinal) == true ? 1 : 0;
            }

            if (ok == endpoints.Count && await ReplicasInSyncAsync(endpoints))
            {
                return;
            }

            if (watch.Elapsed > timeout)
            {
                throw new InvalidOperationException($"cluster did not become ok within {timeout}");
            }

            await Task.Delay(200);
        }
    }

    private static async Task<bool> ReplicasInSyncAsync(IReadOnlyList<string> endpoints)
    {
        foreach (var endpoint in endpoints)
        {
            var info = (string?)await RedisAdmin.ExecAsync(endpoint, "INFO", "replication");
            if (info?.Contains("role:slave", StringComparison.Ordinal) == true && !info.Contains("master_link_status:up", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Kills one master (SIGKILL, no handover), waits until its replica has been elected in its place and the cluster is
    /// ok again, then restarts the killed process (it rejoins as a replica, empty). Returns the endpoint killed.
    /// </summary>
    public static async Task<string> KillMasterAsync(IReadOnlyList<IFaultableServer> servers, TimeSpan timeout)
    {
        IFaultableServer? victim = null;
        foreach (var server in servers)
        {
            var role = (string?)await RedisAdmin.ExecAsync(server.Endpoint, "INFO", "replication");
            if (role?.Contains("role:master", StringComparison.Ordinal) == true && role.Contains("connected_slaves:1", StringComparison.Ordinal))
            {
                victim = server;
                break;
            }
        }

        if (victim is null)
        {
            throw new InvalidOperationException("no master with a replica to kill");
        }

        // Let the replica catch up first (WAIT): the fault is the master's death and the election, not the loss of writes it
        // acknowledged but had not replicated yet — that loss is real with asynchronous replication, and documented.
        try
        {
            await RedisAdmin.ExecAsync(victim.Endpoint, "WAIT", 1, 500);
        }
        catch (RedisException)
        {
        }

        victim.Kill();
        var survivors = servers.Where(s => s != victim).ToList();
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var masters = 0;
            var ok = false;
            foreach (var server in survivors)
            {
                try
                {
                    var role = (string?)await RedisAdmin.ExecAsync(server.Endpoint, "INFO", "replication");
                    masters += role?.Contains("role:master", StringComparison.Ordinal) == true ? 1 : 0;
                    ok |= ((string?)await RedisAdmin.ExecAsync(server.Endpoint, "CLUSTER", "INFO"))?.Contains("cluster_state:ok", StringComparison.Ordinal) == true;
                }
                catch (RedisException)
                {
                }
            }

            if (masters == 3 && ok)
            {
                break;
            }

            if (watch.Elapsed > timeout)
            {
                throw new InvalidOperationException($"no replica took over from {victim.Endpoint} within {timeout}");
            }

            await Task.Delay(100);
        }

        await victim.StartAsync();
        return victim.Endpoint;
    }

    /// <summary>
    /// Runs <c>CLUSTER FAILOVER</c> on one replica (its master hands over without losing acknowledged writes) and waits
    /// until it is a master. Returns the endpoint promoted.
    /// </summary>
    public static async Task<string> FailoverOneAsync(IReadOnlyList<string> endpoints, TimeSpan timeout)
    {
        string? replica = null;
        foreach (var endpoint in endpoints)
        {
            var role = (string?)await RedisAdmin.ExecAsync(endpoint, "INFO", "replication");
            if (role?.Contains("role:slave", StringComparison.Ordinal) == true)
            {
                replica = endpoint;
                break;
            }
        }

        if (replica is null)
        {
            throw new InvalidOperationException("no replica to promote");
        }

        await RedisAdmin.ExecAsync(replica, "CLUSTER", "FAILOVER");
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            var role = (string?)await RedisAdmin.ExecAsync(replica, "INFO", "replication");
            if (role?.Contains("role:master", StringComparison.Ordinal) == true)
            {
                return replica;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"failover of {replica} did not complete within {timeout}");
    }
}
