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

    [LoggerMessage(4006, LogLevel.Warning, "Invalidation of {Target} could not reach Memcached; retrying in the background")]
    public static partial void InvalidationQueued(ILogger logger, string target, Exception exception);

    [LoggerMessage(4007, LogLevel.Information, "Queued invalidation of {Target} landed after {Attempts} attempt(s)")]
    public static partial void InvalidationLanded(ILogger logger, string target, int attempts);

    [LoggerMessage(4008, LogLevel.Error, "The Memcached invalidation queue was full ({Limit}); {Count} queued invalidations collapsed into one clear of the whole cache")]
    public static partial void QueueCollapsed(ILogger logger, int limit, int count);

    [LoggerMessage(4009, LogLevel.Error, "Invalidation of {Target} never reached Memcached before the cache was disposed: {Reason}")]
    public static partial void InvalidationUndelivered(ILogger logger, string target, string reason);
}
