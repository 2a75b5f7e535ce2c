using Microsoft.Extensions.Logging;

namespace Coherent.Invalidation;

/// <summary>
/// Log messages of the invalidation bus. They keep the ids they had when the bus lived in Coherent.Redis (2003-2005, 2009),
/// so alerting rules written against them still match; they go to the logger the tier gives the bus (Redis: "Coherent.Redis").
/// </summary>
internal static partial class BusLog
{
    [LoggerMessage(2003, LogLevel.Warning, "Bus: {Reason}; local entries are unconfirmed until the bus is healthy again")]
    public static partial void BusSuspect(ILogger logger, string reason);

    [LoggerMessage(2004, LogLevel.Information, "Bus healthy again after {OutageMs} ms; dropped {Dropped} local entries")]
    public static partial void BusRecovered(ILogger logger, long outageMs, int dropped);

    [LoggerMessage(2005, LogLevel.Warning, "Bus: sequence gap from node {Sender} ({Missing} message(s) lost); dropped {Dropped} local entries")]
    public static partial void SequenceGap(ILogger logger, string sender, long missing, int dropped);

    [LoggerMessage(2009, LogLevel.Warning, "Bus message could not be handled: {Message}")]
    public static partial void BadMessage(ILogger logger, string message, Exception? exception);
}
