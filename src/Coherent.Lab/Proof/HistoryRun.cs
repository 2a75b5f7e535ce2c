using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Coherent.Lab.Proof;

/// <summary>A fault to inject <see cref="At"/> after the workload starts, lasting <see cref="Length"/>, on one node where it applies.</summary>
public sealed record ScheduledFault(FaultKind Kind, TimeSpan At, TimeSpan Length, int Node = 0);

/// <summary>Sizes and bounds of a history run.</summary>
public sealed class HistoryRunOptions
{
    public int Nodes { get; set; } = 3;
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(20);
    public int KeysPerFamily { get; set; } = 60;
    public int TagGroups { get; set; } = 6;
    public int ReadersPerNode { get; set; } = 2;
    public TimeSpan WriteEvery { get; set; } = TimeSpan.FromMilliseconds(15);
    public TimeSpan MaxStaleness { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(8);
    public TimeSpan HardTimeout { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>How long a slow factory takes during <see cref="FaultKind.SlowFactory"/> (over the hard timeout).</summary>
    public TimeSpan SlowBy { get; set; } = TimeSpan.FromMilliseconds(600);

    /// <summary>Measurement slack added to MaxStaleness by the checker (a read's end is taken after the value was served).</summary>
    public TimeSpan Tolerance { get; set; } = TimeSpan.FromMilliseconds(50);
    public IReadOnlyList<ScheduledFault> Faults { get; set; } = [];
    public string KeyPrefix { get; set; } = "proof-" + Guid.NewGuid().ToString("N")[..8];
    public string DatabasePath { get; set; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"coherent-proof-{Guid.NewGuid():N}.db");
    public Action<string>? Progress { get; set; }

    /// <summary>
    /// The standard fault schedule for a standalone server, spaced so each fault's effects are attributed to it. Runs up
    /// to 27 s get one cycle of the seven faults spread over the run; longer runs repeat an 18 s cycle (a soak).
    /// </summary>
    public static IReadOnlyList<ScheduledFault> StandaloneSchedule(TimeSpan duration)
    {
        var cycles = duration <= TimeSpan.FromSeconds(27) ? 1 : (int)(duration.TotalSeconds / 18);
        var cycle = duration / cycles;
        var faults = new List<ScheduledFault>();
        for (var c = 0; c < cycles; c++)
        {
            // Nine slots per cycle; each fault sits in its own slot with a quiet recovery after it.
            var at = cycle * c;
            var slot = cycle / 9;
            var length = TimeSpan.FromMilliseconds(Math.Min(1500, slot.TotalMilliseconds * 0.6));
            faults.AddRange(
            [
                new(FaultKind.PubSubKilled, at + (slot * 1), TimeSpan.Zero),
                new(FaultKind.ServerPaused, at + (slot * 2), length),
                new(FaultKind.L2Partitioned, at + (slot * 3), length, Node: 1),
                new(FaultKind.ServerRestarted, at + (slot * 4), TimeSpan.FromMilliseconds(Math.Min(500, length.TotalMilliseconds))),
                new(FaultKind.FactoryThrows, at + (slot * 5.5), length, Node: 2),
                new(FaultKind.SlowFactory, at + (slot * 6.5), length, Node: 2),
                new(FaultKind.PubSubKilled, at + (slot * 7.5), TimeSpan.Zero),
            ]);
        }

        return faults;
    }

    /// <summary>
    /// The cluster schedule: a coordinated failover, a pub/sub kill and (optionally) a killed master per 12 s cycle; runs up
    /// to 18 s get one cycle spread over the run.
    /// </summary>
    public static IReadOnlyList<ScheduledFault> ClusterSchedule(TimeSpan duration, bool killMaster)
    {
        var cycles = duration <= TimeSpan.FromSeconds(18) ? 1 : (int)(duration.TotalSeconds / 12);
        var cycle = duration / cycles;
        var faults = new List<ScheduledFault>();
        for (var c = 0; c < cycles; c++)
        {
            var at = cycle * c;
            faults.Add(new(FaultKind.ClusterFailover, at + (cycle * 0.17), TimeSpan.Zero));
            faults.Add(new(FaultKind.PubSubKilled, at + (cycle * 0.33), TimeSpan.Zero));
            if (killMaster)
            {
                faults.Add(new(FaultKind.ClusterMasterKilled, at + (cycle * 0.46), TimeSpan.Zero));
            }
        }

        return faults;
    }
}

/// <summary>What a history run produced: the checker's report, and whether every acknowledged write was visible after it.</summary>
public sealed record HistoryResult(CheckReport Check, int KeysVerified, int Lost, IReadOnlyList<string> LostDetails, long Operations, double Seconds, long DbReads, bool Quiesced)
{
    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"{Operations} operations in {Seconds:F1} s ({DbReads} database reads); {Check.Summary()}{Environment.NewLine}  nothing lost: {(Lost == 0 ? "yes" : "NO")} ({KeysVerified} key reads after the run, {Lost} behind the database){(Quiesced ? "" : "; fleet did not quiesce")}{string.Concat(LostDetails.Select(d => Environment.NewLine + "  LOST " + d))}");
}

/// <summary>
/// The history run of issue 5: N nodes (each its own connection, through its own TCP proxy when a single server is
/// used) read and write three families over a SQLite source of truth — <c>acct</c> (write, then InvalidateAsync),
/// <c>prod</c> (versioned family, write-through SetAsync) and <c>cat</c> (tagged; a group write, then InvalidateTagAsync)
/// — while the fault schedule breaks things. Every operation is recorded and judged by <see cref="HistoryChecker"/>.
/// </summary>
public static class HistoryRun
{
    private const int Normal = 0, Throwing = 1, Slow = 2;

    private sealed class NodeState
    {
        public int Mode;
    }

    /// <param name="server">The single server (standalone runs) the schedule pauses, kills and restarts; null on a cluster.</param>
    /// <param name="clusterEndpoints">All cluster nodes (cluster runs), or null.</param>
    /// <param name="clusterServers">The cluster's processes, for <see cref="FaultKind.ClusterMasterKilled"/>, or null.</param>
    public static async Task<HistoryResult> RunAsync(HistoryRunOptions o, IFaultableServer? server, IReadOnlyList<string>? clusterEndpoints, CancellationToken cancellationToken,
        IReadOnlyList<IFaultableServer>? clusterServers = null)
    {
        var families = new[] { "acct", "prod", "cat" };
        var keys = families.SelectMany(f => Enumerable.Range(0, o.KeysPerFamily).Select(i => $"{f}:{i}")).ToList();
        var groupOptions = Enumerable.Range(0, o.TagGroups).Select(g => new CacheEntryOptions { Tags = [$"grp{g}"] }).ToArray();
        var bounds = families.ToDictionary(f => f, _ => new FamilyBound(o.MaxStaleness.TotalMilliseconds, o.Ttl.TotalMilliseconds), StringComparer.Ordinal);
        var history = new History();
        using var store = new ProofStore(o.DatabasePath, keys);
        var proxies = new List<TcpProxy>();
        var muxes = new List<ConnectionMultiplexer>();
        var caches = new List<CoherentCache>();
        var states = Enumerable.Range(0, o.Nodes).Select(_ => new NodeState()).ToArray();
        try
        {
            for (var n = 0; n < o.Nodes; n++)
            {
                string endpoints;
                if (server is not null)
                {
                    var proxy = new TcpProxy(() => server.Endpoint);
                    proxies.Add(proxy);
                    endpoints = proxy.Endpoint;
                }
                else
                {
                    endpoints = string.Join(",", clusterEndpoints ?? throw new ArgumentException("A server or cluster endpoints are needed."));
                }

                var mux = await ConnectionMultiplexer.ConnectAsync(RedisAdmin.Options(endpoints));
                muxes.Add(mux);
                caches.Add(new CoherentCacheBuilder()
                    .WithName($"proof-{n}")
                    .Strict()
                    .Define("acct", p => p.MaxStaleness(o.MaxStaleness).Ttl(o.Ttl).Timeouts(hard: o.HardTimeout)
                        .Reason("invalidate-after-write family of the history run"))
                    .Define("prod", p => p.MaxStaleness(o.MaxStaleness).Ttl(o.Ttl).NoEarlyRefresh().Timeouts(hard: o.HardTimeout)
                        .Reason("versioned, write-through family of the history run"))
                    .Define("cat", p => p.MaxStaleness(o.MaxStaleness).Ttl(o.Ttl).NoEarlyRefresh().Timeouts(soft: TimeSpan.FromMilliseconds(50), hard: o.HardTimeout)
                        .FailSafe(o.Ttl, TimeSpan.FromMilliseconds(200)).Reason("tagged family with fail-safe of the history run"))
                    .WithRedis(mux, r =>
                    {
                        r.KeyPrefix = o.KeyPrefix;
                        r.VersionedFamilies.Add("prod");
                        r.OldVersionGrace = TimeSpan.FromSeconds(2);
                    })
                    .Build());
            }

            await WaitAsync(() => caches.All(c => c.SharedTierState == SharedTierState.Healthy), TimeSpan.FromSeconds(10));
            await Task.Delay(300, cancellationToken); // a few heartbeats: every bus confirmed

            var watch = Stopwatch.StartNew();
            var deadline = ProofClock.NowMs + o.Duration.TotalMilliseconds;
            long ops = 0;
            var readers = caches.SelectMany((cache, n) => Enumerable.Range(0, o.ReadersPerNode).Select(r => Task.Run(async () =>
            {
                var random = new Random((n * 31) + r);
                while (ProofClock.NowMs < deadline && !cancellationToken.IsCancellationRequested)
                {
                    var family = families[random.Next(families.Length)];
                    var i = random.Next(o.KeysPerFamily);
                    var key = $"{family}:{i}";
                    var entryOptions = family == "cat" ? groupOptions[i % o.TagGroups] : null;
                    var start = ProofClock.NowMs;
                    try
                    {
                        var v = await cache.GetOrSetAsync(key, (store, key, states[n], o.SlowBy), static async (s, ct) =>
                        {
                            var mode = Volatile.Read(ref s.Item3.Mode);
                            if (mode == Throwing)
                            {
                                throw new InvalidOperationException("injected factory failure");
                            }

                            var version = await s.store.ReadAsync(s.key, ct);
                            if (mode == Slow)
                            {
                                await Task.Delay(s.SlowBy, ct);
                            }

                            return version;
                        }, entryOptions, cancellationToken);
                        history.Read(new ReadRecord(n, key, family, v, start, ProofClock.NowMs, null));
                    }
                    catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                    {
                        history.Read(new ReadRecord(n, key, family, -1, start, ProofClock.NowMs, ex.GetType().Name));
                    }

                    Interlocked.Increment(ref ops);
                    await Task.Delay(1, CancellationToken.None);
                }
            }, cancellationToken))).ToList();

            var writers = caches.Select((cache, n) => Task.Run(async () =>
            {
                var random = new Random(1000 + n);
                var owned = Enumerable.Range(0, o.KeysPerFamily).Where(i => i % o.Nodes == n).ToArray();
                var groups = Enumerable.Range(0, o.TagGroups).Where(g => g % o.Nodes == n).ToArray();
                while (ProofClock.NowMs < deadline && !cancellationToken.IsCancellationRequested && owned.Length > 0)
                {
                    var dice = random.NextDouble();
                    if (dice < 0.45)
                    {
                        var key = $"acct:{owned[random.Next(owned.Length)]}";
                        await WriteAsync(history, store, n, "acct", [key], WriteKind.Invalidate, ct => cache.InvalidateAsync(key, ct), cancellationToken);
                    }
                    else if (dice < 0.8)
                    {
                        var key = $"prod:{owned[random.Next(owned.Length)]}";
                        await WriteAsync(history, store, n, "prod", [key], WriteKind.WriteThrough, null, cancellationToken, cache);
                    }
                    else if (groups.Length > 0)
                    {
                        var g = groups[random.Next(groups.Length)];
                        var members = Enumerable.Range(0, o.KeysPerFamily).Where(i => i % o.TagGroups == g).Select(i => $"cat:{i}").ToArray();
                        await WriteAsync(history, store, n, "cat", members, WriteKind.Tag, ct => cache.InvalidateTagAsync($"grp{g}", ct), cancellationToken);
                    }

                    Interlocked.Increment(ref ops);
                    await Task.Delay(o.WriteEvery, CancellationToken.None);
                }
            }, cancellationToken)).ToList();

            var schedule = Task.Run(() => RunScheduleAsync(o, history, server, clusterEndpoints, clusterServers, proxies, states, watch, cancellationToken), cancellationToken);
            var progress = Task.Run(async () =>
            {
                while (ProofClock.NowMs < deadline && !cancellationToken.IsCancellationRequested)
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, Math.Min(5, o.Duration.TotalSeconds / 4))), CancellationToken.None);
                    o.Progress?.Invoke($"{watch.Elapsed.TotalSeconds:F0} s: {Interlocked.Read(ref ops)} operations, {history.Faults.Count} faults injected");
                }
            }, cancellationToken);
            await Task.WhenAll(readers.Concat(writers).Append(schedule).Append(progress));
            var seconds = watch.Elapsed.TotalSeconds;

            // Quiesce: every queued invalidation landed and every bus confirmed, then one MaxStaleness: all must be current.
            var quiesced = await WaitAsync(() => caches.All(c => c.PendingInvalidations == 0 && c.SharedTierState == SharedTierState.Healthy), TimeSpan.FromSeconds(20));
            await Task.Delay(o.MaxStaleness + TimeSpan.FromMilliseconds(200), cancellationToken);
            var lost = new List<string>();
            var verified = 0;
            for (var n = 0; n < caches.Count; n++)
            {
                foreach (var key in keys)
                {
                    var expected = await store.ReadAsync(key, cancellationToken);
                    var i = int.Parse(key.AsSpan(key.IndexOf(':', StringComparison.Ordinal) + 1), CultureInfo.InvariantCulture);
                    var options = key.StartsWith("cat:", StringComparison.Ordinal) ? groupOptions[i % o.TagGroups] : null;
                    var got = await caches[n].GetOrSetAsync(key, (store, key), static (s, ct) => s.store.ReadAsync(s.key, ct), options, cancellationToken);
                    verified++;
                    if (got != expected)
                    {
                        lost.Add($"node {n} {key}: v{got}, database v{expected}");
                    }
                }
            }

            var report = HistoryChecker.Check(history, bounds, o.Tolerance.TotalMilliseconds, o.MaxStaleness.TotalMilliseconds + 500);
            return new HistoryResult(report, verified, lost.Count, lost.Take(20).ToList(), ops, seconds, store.Reads, quiesced);
        }
        finally
        {
            foreach (var cache in caches)
            {
                await cache.DisposeAsync();
            }

            foreach (var mux in muxes)
            {
                await mux.DisposeAsync();
            }

            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync();
            }
        }
    }

    private static async Task WriteAsync(History history, ProofStore store, int node, string family, string[] keys, WriteKind kind,
        Func<CancellationToken, ValueTask>? tell, CancellationToken cancellationToken, CoherentCache? cache = null)
    {
        var versions = await store.BumpAsync(keys, cancellationToken);
        var commit = ProofClock.NowMs;
        string? error = null;
        try
        {
            if (tell is not null)
            {
                await tell(cancellationToken);
            }
            else
            {
                await cache!.SetAsync(keys[0], versions[0], cancellationToken: cancellationToken);
            }
        }
        catch (InvalidationFailedException)
        {
            error = nameof(InvalidationFailedException);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            error = ex.GetType().Name;
        }

        var told = ProofClock.NowMs;
        for (var i = 0; i < keys.Length; i++)
        {
            history.Write(new WriteRecord(node, keys[i], family, versions[i], kind, commit, error is null ? told : double.PositiveInfinity, error is not null, error));
        }
    }

    private static async Task RunScheduleAsync(HistoryRunOptions o, History history, IFaultableServer? server, IReadOnlyList<string>? cluster,
        IReadOnlyList<IFaultableServer>? clusterServers, List<TcpProxy> proxies, NodeState[] states, Stopwatch watch, CancellationToken cancellationToken)
    {
        foreach (var fault in o.Faults.OrderBy(f => f.At))
        {
            var wait = fault.At - watch.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }

            var start = ProofClock.NowMs;
            var target = "server";
            switch (fault.Kind)
            {
                case FaultKind.PubSubKilled:
                    foreach (var endpoint in server is not null ? [server.Endpoint] : cluster!)
                    {
                        await RedisAdmin.ExecAsync(endpoint, "CLIENT", "KILL", "TYPE", "pubsub");
                    }

                    break;
                case FaultKind.ServerPaused when server is not null:
                    server.Pause();
                    try
                    {
                        await Task.Delay(fault.Length, CancellationToken.None);
                    }
                    finally
                    {
                        server.Resume();
                    }

                    break;
                case FaultKind.ServerRestarted when server is not null:
                    server.Kill();
                    await Task.Delay(fault.Length, CancellationToken.None);
                    await server.StartAsync();
                    break;
                case FaultKind.L2Partitioned when proxies.Count > fault.Node:
                    target = $"node {fault.Node}";
                    proxies[fault.Node].Partition();
                    await Task.Delay(fault.Length, CancellationToken.None);
                    proxies[fault.Node].Heal();
                    break;
                case FaultKind.FactoryThrows or FaultKind.SlowFactory when states.Length > fault.Node:
                    target = $"node {fault.Node}";
                    Volatile.Write(ref states[fault.Node].Mode, fault.Kind == FaultKind.FactoryThrows ? Throwing : Slow);
                    await Task.Delay(fault.Length, CancellationToken.None);
                    Volatile.Write(ref states[fault.Node].Mode, Normal);
                    break;
                case FaultKind.ClusterFailover when cluster is not null:
                    target = await ClusterControl.FailoverOneAsync(cluster, TimeSpan.FromSeconds(15));
                    break;
                case FaultKind.ClusterMasterKilled when clusterServers is not null:
                    target = await ClusterControl.KillMasterAsync(clusterServers, TimeSpan.FromSeconds(20));
                    break;
                default:
                    continue; // does not apply to this topology
            }

            history.Fault(new FaultRecord(fault.Kind, target, start, ProofClock.NowMs));
            o.Progress?.Invoke($"fault {fault.Kind} on {target}: {ProofClock.NowMs - start:F0} ms");
        }
    }

    private static async Task<bool> WaitAsync(Func<bool> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }
}
