using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Coherent.Testing;

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
public static partial class HistoryRun
{
    /// <param name="server">The single server (standalone runs) the schedule pauses, kills and restarts; null on a cluster.</param>
    /// <param name="clusterEndpoints">All cluster nodes (cluster runs), or null.</param>
    /// <param name="clusterServers">The cluster's processes, for <see cref="FaultKind.ClusterMasterKilled"/>, or null.</param>
    public static async Task<HistoryResult> RunAsync(HistoryRunOptions o, IFaultableServer? server, IReadOnlyList<string>? clusterEndpoints, CancellationToken cancellationToken,
        IReadOnlyList<IFaultableServer>? clusterServers = null)
    {
        var families = new[] { "acct", "prod", "cat" };
        var keys = families.SelectMany(f => Enumerable.Range(0, o.KeysPerFamily).Select(i => $"{f}:{i}")).ToList();
        var bounds = families.ToDictionary(f => f, _ => new FamilyBound(o.MaxStaleness.TotalMilliseconds, o.Ttl.TotalMilliseconds), StringComparer.Ordinal);
        var history = new History();
        using var store = new SourceOfTruth(o.DatabasePath, keys);
        await using var fleet = new ProofFleet(o, server, clusterEndpoints, store, history, cancellationToken);
        for (var n = 0; n < o.Nodes; n++)
        {
            await fleet.AddNodeAsync();
        }

        await Eventually.WithinAsync(() => fleet.Caches.All(c => c.SharedTierState == SharedTierState.Healthy), TimeSpan.FromSeconds(10), pollMs: 20);
        await Task.Delay(300, cancellationToken); // a few heartbeats: every bus confirmed

        var watch = Stopwatch.StartNew();
        fleet.StartReading(ProofClock.NowMs + o.Duration.TotalMilliseconds);
        var writers = fleet.Caches.Select((cache, n) => Task.Run(async () =>
        {
            var random = new Random(1000 + n);
            var owned = Enumerable.Range(0, o.KeysPerFamily).Where(i => i % o.Nodes == n).ToArray();
            var groups = Enumerable.Range(0, o.TagGroups).Where(g => g % o.Nodes == n).ToArray();
            while (ProofClock.NowMs < fleet.Deadline && !cancellationToken.IsCancellationRequested && owned.Length > 0)
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

                fleet.CountOperation();
                await Task.Delay(o.WriteEvery, CancellationToken.None);
            }
        }, cancellationToken)).ToList();

        var schedule = Task.Run(() => RunScheduleAsync(o, history, server, clusterEndpoints, clusterServers, fleet, watch, cancellationToken), cancellationToken);
        var progress = Task.Run(async () =>
        {
            while (ProofClock.NowMs < fleet.Deadline && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, Math.Min(5, o.Duration.TotalSeconds / 4))), CancellationToken.None);
                o.Progress?.Invoke($"{watch.Elapsed.TotalSeconds:F0} s: {fleet.Operations} operations, {history.Faults.Count} faults injected");
            }
        }, cancellationToken);
        await Task.WhenAll(writers.Append(schedule).Append(progress));
        await fleet.ReadersFinishedAsync();
        var seconds = watch.Elapsed.TotalSeconds;

        // Quiesce: every queued invalidation landed and every bus confirmed, then one MaxStaleness: all must be current.
        var quiesced = await Eventually.WithinAsync(() => fleet.Caches.All(c => c.PendingInvalidations == 0 && c.SharedTierState == SharedTierState.Healthy), TimeSpan.FromSeconds(20), pollMs: 20);
        await Task.Delay(o.MaxStaleness + TimeSpan.FromMilliseconds(200), cancellationToken);
        var lost = new List<string>();
        var verified = 0;
        for (var n = 0; n < fleet.Caches.Count; n++)
        {
            foreach (var key in keys)
            {
                var expected = await store.ReadVersionAsync(key, cancellationToken);
                var got = await fleet.Caches[n].GetOrSetAsync(key, (store, key), static (s, ct) => s.store.ReadVersionAsync(s.key, ct), fleet.OptionsFor(key), cancellationToken);
                verified++;
                if (got != expected)
                {
                    lost.Add($"node {n} {key}: v{got}, database v{expected}");
                }
            }
        }

        var report = HistoryChecker.Check(history, bounds, o.Tolerance.TotalMilliseconds, o.MaxStaleness.TotalMilliseconds + 500);
        return new HistoryResult(report, verified, lost.Count, lost.Take(20).ToList(), fleet.Operations, seconds, store.Reads, quiesced);
    }

    private static async Task WriteAsync(History history, SourceOfTruth store, int node, string family, string[] keys, WriteKind kind,
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
}
