using Microsoft.Extensions.Logging;

namespace Coherent.Redis;

/// <summary>Log messages of the Redis tier. Event ids are stable (2001-2099) so alerting rules may match on them.</summary>
internal static partial class RedisLog
{
    [LoggerMessage(2001, LogLevel.Warning, "Redis circuit opened after {Failures} consecutive failures; reads continue from L1 and factories")]
    public static partial void BreakerOpened(ILogger logger, int failures, Exception? exception);

    [LoggerMessage(2002, LogLevel.Information, "Redis circuit closed: the server answers again")]
    public static partial void BreakerClosed(ILogger logger);

    [LoggerMessage(2003, LogLevel.Warning, "Bus: {Reason}; local entries are unconfirmed until the bus is healthy again")]
    public static partial void BusSuspect(ILogger logger, string reason);

    [LoggerMessage(2004, LogLevel.Information, "Bus healthy again after {OutageMs} ms; dropped {Dropped} local entries")]
    public static partial void BusRecovered(ILogger logger, long outageMs, int dropped);

    [LoggerMessage(2005, LogLevel.Warning, "Bus: sequence gap from node {Sender} ({Missing} message(s) lost); dropped {Dropped} local entries")]
    public static partial void SequenceGap(ILogger logger, string sender, long missing, int dropped);

    [LoggerMessage(2006, LogLevel.Warning, "Refused the Redis entry for key {Key}: {Reason} (counted as a miss)")]
    public static partial void EntryRejected(ILogger logger, string key, string reason);

    [LoggerMessage(2007, LogLevel.Warning, "Invalidation of {Target} could not reach Redis; retrying in the background")]
    public static partial void InvalidationQueued(ILogger logger, string target, Exception exception);

    [LoggerMessage(2008, LogLevel.Information, "Queued invalidation of {Target} landed after {Attempts} attempt(s)")]
    public static partial void InvalidationLanded(ILogger logger, string target, int attempts);

    [LoggerMessage(2010, LogLevel.Debug, "Redis read of key {Key} failed; served as unavailable")]
    public static partial void ReadFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(2011, LogLevel.Warning, "Value for key {Key} is {Size} bytes, over the Redis payload limit of {Limit}: kept in this node's L1 only")]
    public static partial void OversizedFill(ILogger logger, string key, int size, long limit);

    [LoggerMessage(2012, LogLevel.Warning, "Family {Family} has MaxStaleness {MaxStaleness}, under 4 heartbeat intervals ({Heartbeat}): its L1 entries will often be unconfirmed and read from Redis")]
    public static partial void HeartbeatTooSlow(ILogger logger, string family, TimeSpan maxStaleness, TimeSpan heartbeat);

    [LoggerMessage(2014, LogLevel.Warning, "More than {Max} invalidations were waiting for Redis: the {Collapsed} queued key and tag invalidations were collapsed into one clear of the whole cache")]
    public static partial void QueueCollapsed(ILogger logger, int max, int collapsed);

    [LoggerMessage(2015, LogLevel.Error, "Disposed with the invalidation of {Target} not delivered to Redis ({Reason}): other nodes may serve the old value up to its family's Ttl")]
    public static partial void InvalidationUndelivered(ILogger logger, string target, string reason);

    [LoggerMessage(2016, LogLevel.Warning, "Redis refused the queued invalidation of {Target} (attempt {Attempts}): {Reason}; retried in {Delay} without holding up the others")]
    public static partial void InvalidationRefused(ILogger logger, string target, int attempts, TimeSpan delay, string reason);

    [LoggerMessage(2017, LogLevel.Warning, "Refused the version in Redis key {RedisKey}: '{Value}' is not an integer from 0 to 2^53-1 (written by something other than Coherent)")]
    public static partial void VersionRejected(ILogger logger, string redisKey, string value);

    [LoggerMessage(2018, LogLevel.Debug, "Refused the signed Redis entry for key {Key}: stored under an older epoch than the key's (counted as a miss)")]
    public static partial void EntryOlderThanEpoch(ILogger logger, string key);

    [LoggerMessage(2019, LogLevel.Warning, "Refused a bus frame ({Reason}, {Count} so far; logged at powers of two): {Frame}")]
    public static partial void FrameRejected(ILogger logger, string reason, long count, string frame);

    [LoggerMessage(2009, LogLevel.Warning, "Bus message could not be handled: {Message}")]
    public static partial void BadMessage(ILogger logger, string message, Exception? exception);

    [LoggerMessage(2030, LogLevel.Information, "Released the lease of key {Key}, taken after its requester had stopped waiting")]
    public static partial void OrphanedLeaseReleased(ILogger logger, string key);
}
