using Microsoft.Extensions.Logging;

namespace Coherent.Redis;

/// <summary>Log messages of the Redis tier. Event ids are stable (2001-2099) so alerting rules may match on them.</summary>
internal static partial class RedisLog
{
    [LoggerMessage(2001, LogLevel.Warning, "Redis circuit opened after {Failures} consecutive failures; reads continue from L1 and factories")]
    public static partial void BreakerOpened(ILogger logger, int failures, Exception? exception);

    [LoggerMessage(2002, LogLevel.Information, "Redis circuit closed: the server answers again")]
    public static partial void BreakerClosed(ILogger logger);

    [LoggerMessage(2006, LogLevel.Warning, "Refused the Redis entry for key {Key}: {Reason} (counted as a miss)")]
    public static partial void EntryRejected(ILogger logger, string key, string reason);

    [LoggerMessage(2010, LogLevel.Debug, "Redis read of key {Key} failed; served as unavailable")]
    public static partial void ReadFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(2011, LogLevel.Warning, "Value for key {Key} is {Size} bytes, over the Redis payload limit of {Limit}: kept in this node's L1 only")]
    public static partial void OversizedFill(ILogger logger, string key, int size, long limit);

    [LoggerMessage(2012, LogLevel.Warning, "Family {Family} has MaxStaleness {MaxStaleness}, under 4 heartbeat intervals ({Heartbeat}): its L1 entries will often be unconfirmed and read from Redis")]
    public static partial void HeartbeatTooSlow(ILogger logger, string family, TimeSpan maxStaleness, TimeSpan heartbeat);

    [LoggerMessage(2017, LogLevel.Warning, "Refused the version in Redis key {RedisKey}: '{Value}' is not an integer from 0 to 2^53-1 (written by something other than Coherent)")]
    public static partial void VersionRejected(ILogger logger, string redisKey, string value);

    [LoggerMessage(2018, LogLevel.Debug, "Refused the signed Redis entry for key {Key}: stored under an older epoch than the key's (counted as a miss)")]
    public static partial void EntryOlderThanEpoch(ILogger logger, string key);

    [LoggerMessage(2019, LogLevel.Warning, "Refused a bus frame ({Reason}, {Count} so far; logged at powers of two): {Frame}")]
    public static partial void FrameRejected(ILogger logger, string reason, long count, string frame);

    [LoggerMessage(2030, LogLevel.Information, "Released the lease of key {Key}, taken after its requester had stopped waiting")]
    public static partial void OrphanedLeaseReleased(ILogger logger, string key);
}
