using Microsoft.Extensions.Logging;

namespace Coherent.Memcached;

/// <summary>Log messages of the Memcached tier. Event ids are stable (4001-4099) so alerting rules may match on them.</summary>
internal static partial class MemcachedLog
{
    [LoggerMessage(4001, LogLevel.Information, "Cache {Cache}: Memcached has no invalidation bus; every L1 copy lives at most its family's max-staleness")]
    public static partial void NoBus(ILogger logger, string cache);

    [LoggerMessage(4002, LogLevel.Warning, "Refused the Memcached entry for key {Key}: {Reason} (counted as a miss)")]
    public static partial void EntryRejected(ILogger logger, string key, string reason);

    [LoggerMessage(4003, LogLevel.Debug, "Memcached read for key {Key} failed; served from L1 or the factory")]
    public static partial void ReadFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(4004, LogLevel.Warning, "Memcached store for key {Key} failed; the value stays in this node's L1 only")]
    public static partial void StoreFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(4005, LogLevel.Warning, "Value for key {Key} ({Size} bytes) exceeds Memcached's item limit ({Limit} bytes); kept in L1 only")]
    public static partial void OversizedFill(ILogger logger, string key, long size, long limit);

    [LoggerMessage(4006, LogLevel.Information, "Cache {Cache}: invalidations are announced on the paired bus after they land in Memcached; a node that dies in between leaves other nodes' L1 copies until they expire")]
    public static partial void PairedBus(ILogger logger, string cache);

    [LoggerMessage(4007, LogLevel.Warning, "The announcement of {Name} failed after it landed in Memcached; other nodes see a sequence gap and drop their L1")]
    public static partial void AnnouncementFailed(ILogger logger, string name, Exception exception);

    [LoggerMessage(4008, LogLevel.Warning, "Refused a bus frame ({Reason}): {Frame}")]
    public static partial void BusFrameRejected(ILogger logger, string reason, string frame);

    [LoggerMessage(4009, LogLevel.Warning, "Family {Family} has MaxStaleness {MaxStaleness}, under 4 heartbeat intervals ({Heartbeat}): its L1 entries will often be unconfirmed and read from Memcached")]
    public static partial void HeartbeatTooSlow(ILogger logger, string family, TimeSpan maxStaleness, TimeSpan heartbeat);

}
