using Coherent.Redis;
using Coherent.Redis.Bus;
using Coherent.Redis.Storage;
using Coherent.SharedTier;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Coherent;

/// <summary>
/// Redis's invalidation bus for another backend: a storage-only shared tier (Coherent.Memcached) that has no pub/sub of its
/// own runs the core's invalidation protocol over Redis pub/sub, so its nodes keep L1 copies as long as on Redis. See
/// <c>docs/shared-tier.md</c>, "A backend without a bus", for what the pairing guarantees and what it costs.
/// </summary>
public static class RedisInvalidation
{
    /// <summary>
    /// A transport on the channel <c>{keyPrefix}:bus</c>, with each sender's last sequence number in the hash
    /// <c>{keyPrefix}:senders</c>. Every node of the application must use the same Redis and prefix. The connection is
    /// the caller's (not closed by the transport); its failures make the bus suspect (L1 then falls back to each family's
    /// MaxStaleness) until its heartbeats return. Give it to one cache only (one bus per transport).
    /// </summary>
    /// <param name="connection">An open connection to Redis (standalone, Sentinel or Cluster; Valkey and Garnet too).</param>
    /// <param name="keyPrefix">The application's prefix: 1-64 letters, digits and <c>-_.:</c>. Default <c>coherent</c>.</param>
    /// <param name="operationTimeout">Deadline of each publish and read (default 500 ms, at most a minute).</param>
    /// <param name="loggerFactory">Where a failed read of the senders' numbers is logged (category <c>Coherent.Redis</c>); none when null.</param>
    /// <exception cref="CoherentConfigurationException">The prefix or the timeout is invalid (every problem listed).</exception>
    public static IInvalidationTransport CreateTransport(IConnectionMultiplexer connection, string keyPrefix = "coherent", TimeSpan? operationTimeout = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(keyPrefix);

        // The same rules as the tier's own options, from their one home.
        var options = new CoherentRedisOptions { KeyPrefix = keyPrefix, OperationTimeout = operationTimeout ?? new CoherentRedisOptions().OperationTimeout };
        var problems = new List<string>();
        options.ValidateNaming(problems);
        if (problems.Count > 0)
        {
            throw new CoherentConfigurationException(problems);
        }

        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Coherent.Redis");
        return new RedisInvalidationTransport(connection, new KeySpace(keyPrefix), new TimedRedisCalls(options.OperationTimeout, TimeProvider.System),
            options.OperationTimeout, logger, watchConnection: true);
    }
}
