using System.Collections.Concurrent;
using System.Diagnostics;

namespace Coherent.Testing;

/// <summary>Milliseconds since the process started, high resolution, shared by every node of a run (one process, one clock).</summary>
public static class ProofClock
{
    private static readonly long Origin = Stopwatch.GetTimestamp();

    public static double NowMs => Stopwatch.GetElapsedTime(Origin).TotalMilliseconds;
}

/// <summary>The faults a run can inject. <see cref="None"/> is the healthy bus.</summary>
public enum FaultKind
{
    None,
    PubSubKilled,
    ServerPaused,
    ServerRestarted,
    L2Partitioned,
    FactoryThrows,
    SlowFactory,
    ClusterFailover,
    ClusterMasterKilled,

    /// <summary>One node loses every tag and clear message (<c>T|</c>, <c>C|</c>) sent to it for the fault's length.</summary>
    VersionMessagesDropped,

    /// <summary>A new node joins mid-run and serves at once, without waiting for its bus.</summary>
    NodeJoined,

    /// <summary>One node is cut off from Redis while its factory is slow (reads its source, then takes longer than the hard timeout).</summary>
    PartitionedSlowFactory,

    /// <summary>The nodes' wall clock steps back an hour (NTP, a resumed VM) and forward again at the fault's end.</summary>
    WallClockStepped,
}

/// <summary>How a writer told the cache about a new version.</summary>
public enum WriteKind
{
    /// <summary>Database write, then <c>InvalidateAsync(key)</c>.</summary>
    Invalidate,

    /// <summary>Database write, then <c>SetAsync(key, newValue)</c> (versioned family: new version key + pointer move).</summary>
    WriteThrough,

    /// <summary>Database write of every key of a group, then <c>InvalidateTagAsync(group)</c>.</summary>
    Tag,
}

/// <summary>One read: which node, which key, the version it returned, when it ran (or the error it threw).</summary>
public sealed record ReadRecord(int Node, string Key, string Family, long Version, double StartMs, double EndMs, string? Error);

/// <summary>
/// One write of one key: the version committed to the source of truth and when; when the cache call (invalidate, set,
/// tag) returned, or <see cref="Failed"/> when it threw <see cref="InvalidationFailedException"/> (then it is retried
/// in the background and, until it lands, staleness is bounded only by the family's Ttl).
/// </summary>
public sealed record WriteRecord(int Node, string Key, string Family, long Version, WriteKind Kind, double CommitMs, double ToldMs, bool Failed, string? Error);

/// <summary>An injected fault: its kind, what it hit, and when it started and ended (instant faults have End == Start).</summary>
public sealed record FaultRecord(FaultKind Kind, string Target, double StartMs, double EndMs);

/// <summary>Every operation of a run, appended concurrently by the nodes, readers, writers and the fault schedule.</summary>
public sealed class History
{
    private readonly ConcurrentQueue<ReadRecord> _reads = new();
    private readonly ConcurrentQueue<WriteRecord> _writes = new();
    private readonly ConcurrentQueue<FaultRecord> _faults = new();

    public IReadOnlyCollection<ReadRecord> Reads => _reads;

    public IReadOnlyCollection<WriteRecord> Writes => _writes;

    public IReadOnlyCollection<FaultRecord> Faults => _faults;

    public void Read(ReadRecord record) => _reads.Enqueue(record);

    public void Write(WriteRecord record) => _writes.Enqueue(record);

    public void Fault(FaultRecord record) => _faults.Enqueue(record);
}
