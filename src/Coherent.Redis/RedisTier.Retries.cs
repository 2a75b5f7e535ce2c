using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>What counts as a refusal, for the breaker and the retry queue (the queue itself is the core's <see cref="Coherent.SharedTier.InvalidationRetryQueue"/>).</summary>
internal sealed partial class RedisTier
{
    /// <summary>
    /// The server (or the client) refused this one command (NOPERM, a script error on a poisoned value, CROSSSLOT): retrying at
    /// once cannot help, and the server is up. Replies that mean a server in transition (loading, busy, failing over) are not
    /// refusals: they are treated as the server being unreachable.
    /// </summary>
    internal static bool IsRefusal(Exception ex) =>
        ex is RedisCommandException // refused by the client before sending (keys in several Cluster slots, e.g. a key starting with '}')
        || (ex is RedisServerException server && !TransientPrefixes.Any(p => server.Message.StartsWith(p, StringComparison.Ordinal)));

    private static readonly string[] TransientPrefixes = ["LOADING", "BUSY", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK"];
}
