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

}
