namespace Coherent.Testing;

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

    /// <summary>
    /// The share of reads that are bulk reads (<c>GetOrSetManyAsync</c> of up to <see cref="BulkKeys"/> keys of one family, or of
    /// one tag group): each key it returns is checked as a single read, so the batch read, lease, store round and version read
    /// are held to the same contract under the same faults.
    /// </summary>
    public double BulkReadShare { get; set; } = 0.2;

    /// <summary>Most keys in one bulk read of the proof.</summary>
    public int BulkKeys { get; set; } = 8;

    /// <summary>How long a slow factory takes during <see cref="FaultKind.SlowFactory"/> (over the hard timeout).</summary>
    public TimeSpan SlowBy { get; set; } = TimeSpan.FromMilliseconds(600);

    /// <summary>Measurement slack added to MaxStaleness by the checker (a read's end is taken after the value was served).</summary>
    public TimeSpan Tolerance { get; set; } = TimeSpan.FromMilliseconds(50);
    public IReadOnlyList<ScheduledFault> Faults { get; set; } = [];
    public string KeyPrefix { get; set; } = "proof-" + Guid.NewGuid().ToString("N")[..8];
    public string DatabasePath { get; set; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"coherent-proof-{Guid.NewGuid():N}.db");
    public Action<string>? Progress { get; set; }

    /// <summary>
    /// Attaches a shared tier other than Redis to each node's builder (e.g. <c>WithMemcached</c>), given the endpoint the node
    /// must use (its own TCP proxy to the server, so the schedule can partition it). Null: Redis, each node its own connection.
    /// </summary>
    public Action<CoherentCacheBuilder, string>? SharedTier { get; set; }

    /// <summary>
    /// The standard fault schedule for a standalone server, spaced so each fault's effects are attributed to it. Runs up
    /// to 39 s get one cycle of the eleven faults spread over the run; longer runs repeat a 26 s cycle (a soak).
    /// </summary>
    public static IReadOnlyList<ScheduledFault> StandaloneSchedule(TimeSpan duration)
    {
        var cycles = duration <= TimeSpan.FromSeconds(39) ? 1 : (int)(duration.TotalSeconds / 26);
        var cycle = duration / cycles;
        var faults = new List<ScheduledFault>();
        for (var c = 0; c < cycles; c++)
        {
            // Thirteen slots per cycle; each fault sits in its own slot with a quiet recovery after it.
            var at = cycle * c;
            var slot = cycle / 13;
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
                new(FaultKind.VersionMessagesDropped, at + (slot * 8.5), length, Node: 2),
                new(FaultKind.NodeJoined, at + (slot * 9.5), TimeSpan.Zero),
                new(FaultKind.PartitionedSlowFactory, at + (slot * 10.5), length, Node: 1),
                new(FaultKind.WallClockStepped, at + (slot * 11.5), length),
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
