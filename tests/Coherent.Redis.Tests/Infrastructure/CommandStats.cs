using Coherent.Testing;

namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>The server's own count of calls per command (<c>INFO commandstats</c>), for tests that count round trips.</summary>
internal static class CommandStats
{
    public static async Task<Dictionary<string, long>> CommandCallsAsync(this RedisProcess server)
    {
        var info = (string)(await server.ExecAsync("INFO", "commandstats"))!;
        var calls = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in info.Split('\n', StringSplitOptions.TrimEntries))
        {
            // cmdstat_get:calls=12,usec=...
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && line.IndexOf(":calls=", StringComparison.Ordinal) is var at and > 0)
            {
                var end = line.IndexOf(',', at);
                calls[line[8..at]] = long.Parse(line[(at + 7)..end], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return calls;
    }

    /// <summary>Calls of <paramref name="command"/> between two counts.</summary>
    public static long Delta(this Dictionary<string, long> after, Dictionary<string, long> before, string command) =>
        after.GetValueOrDefault(command) - before.GetValueOrDefault(command);
}
