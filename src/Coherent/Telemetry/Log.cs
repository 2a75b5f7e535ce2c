using Microsoft.Extensions.Logging;

namespace Coherent.Telemetry;

/// <summary>Coherent's log messages. Event ids are stable: alerting rules may match on them.</summary>
internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Warning, "Factory for key {Key} (family {Family}) failed")]
    public static partial void FactoryFailed(ILogger logger, string key, string family, Exception exception);

    [LoggerMessage(1002, LogLevel.Warning, "Factory for key {Key} (family {Family}) passed its hard timeout of {Timeout}")]
    public static partial void FactoryTimedOut(ILogger logger, string key, string family, TimeSpan timeout);

    [LoggerMessage(1003, LogLevel.Warning, "Fail-safe: serving key {Key} (family {Family}) {AgeMs} ms old; factory not retried for {Throttle}")]
    public static partial void FailSafeActivated(ILogger logger, string key, string family, long ageMs, TimeSpan throttle);

    [LoggerMessage(1004, LogLevel.Information, "Soft timeout: serving stale key {Key} (family {Family}) while the factory finishes in the background")]
    public static partial void SoftTimeoutServedStale(ILogger logger, string key, string family);

    [LoggerMessage(1005, LogLevel.Warning, "Background refresh of key {Key} (family {Family}) failed")]
    public static partial void BackgroundRefreshFailed(ILogger logger, string key, string family, Exception exception);

    [LoggerMessage(1006, LogLevel.Debug, "Result for key {Key} not stored: the key was invalidated while its factory ran")]
    public static partial void FencedResultDropped(ILogger logger, string key);

    [LoggerMessage(1011, LogLevel.Debug, "Result for key {Key} kept out of the shared tier: a tag was invalidated in the fleet while the factory that added its tags ran")]
    public static partial void AddedTagsKeptLocal(ILogger logger, string key);

    [LoggerMessage(1007, LogLevel.Warning, "Value for key {Key} could not be stored in the shared tier")]
    public static partial void SharedStoreFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(1008, LogLevel.Warning, "Shared tier read for key {Key} failed; continuing without it")]
    public static partial void SharedReadFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(1009, LogLevel.Information, "Dropped {Count} local entries fetched before {Since:o} (bus recovery)")]
    public static partial void LocalEntriesDropped(ILogger logger, int count, DateTimeOffset since);

    // The key is not logged: a key HybridCache refuses may be huge or hold control characters (log injection).
    [LoggerMessage(1010, LogLevel.Warning, "HybridCache adapter: a key of {Length} characters is empty, whitespace-only, over {MaxLength} characters or not printable text; not cached")]
    public static partial void HybridKeyNotCached(ILogger logger, int length, int maxLength);
}
