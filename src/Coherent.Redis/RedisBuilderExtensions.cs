using Coherent.Redis;
using StackExchange.Redis;

namespace Coherent;

/// <summary>
/// Adds the Redis shared tier (L2, invalidation bus, fleet-wide leases) to a <see cref="CoherentCacheBuilder"/>. Every overload
/// applies, in order, the defaults of <see cref="CoherentRedisOptions"/>, the <c>Redis</c> child of the builder's configuration
/// section (<c>Coherent:Redis</c>, see docs/configuration.md), then <c>configure</c>; all are read and validated when the cache
/// is built, and every problem is listed in one <see cref="CoherentConfigurationException"/>.
/// </summary>
public static class RedisBuilderExtensions
{
    /// <summary>
    /// Uses Redis (standalone or Cluster), Valkey or Garnet at <paramref name="configuration"/> (a StackExchange.Redis
    /// configuration string such as <c>127.0.0.1:6379,password=...,ssl=true</c>) as the shared tier. The connection is
    /// opened when the cache is built, owned by the cache and closed when it is disposed. A server that is down at build
    /// time is not an error: the cache runs from L1 and its factories until it comes up.
    /// </summary>
    public static CoherentCacheBuilder WithRedis(this CoherentCacheBuilder builder, string configuration, Action<CoherentRedisOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        return new RedisSetup(builder, configuration, connection: null, configure).Attach();
    }

    /// <summary>
    /// Uses an existing StackExchange.Redis connection as the shared tier. The connection stays the caller's: the cache
    /// does not close it. Create it with <c>AbortOnConnectFail=false</c> so the cache survives a server that is down.
    /// </summary>
    public static CoherentCacheBuilder WithRedis(this CoherentCacheBuilder builder, IConnectionMultiplexer connection, Action<CoherentRedisOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(connection);
        return new RedisSetup(builder, connectionString: null, connection, configure).Attach();
    }

    /// <summary>
    /// Uses the connection the application configured: the connection string in <c>Coherent:Redis:Configuration</c> (opened
    /// and owned by the cache) if set, else, when the cache is built through dependency injection (<c>AddCoherentCache</c>),
    /// the container's <see cref="IConnectionMultiplexer"/> (reused, never closed by the cache). With neither,
    /// building the cache throws a <see cref="CoherentConfigurationException"/> saying so. A keyed cache's key prefix
    /// defaults to its name.
    /// </summary>
    public static CoherentCacheBuilder WithRedis(this CoherentCacheBuilder builder, Action<CoherentRedisOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return new RedisSetup(builder, connectionString: null, connection: null, configure).Attach();
    }
}
