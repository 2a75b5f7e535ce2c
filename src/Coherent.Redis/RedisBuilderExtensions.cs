using Coherent.Redis;
using StackExchange.Redis;

namespace Coherent;

/// <summary>Adds the Redis shared tier (L2, invalidation bus, fleet-wide leases) to a <see cref="CoherentCacheBuilder"/>.</summary>
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
        var options = Configure(configure);
        ConfigurationOptions? parsed = null;
        builder.ExtraValidators.Add(problems =>
        {
            options.Validate(problems);
            try
            {
                parsed = ConfigurationOptions.Parse(configuration);
                if (parsed.EndPoints.Count == 0)
                {
                    problems.Add("Redis configuration names no endpoint.");
                }
            }
            catch (ArgumentException ex)
            {
                problems.Add($"Redis configuration '{configuration}' is invalid: {ex.Message}");
            }
        });
        builder.DistributedTierFactory = context =>
        {
            var config = (parsed ?? ConfigurationOptions.Parse(configuration)).Clone();
            config.AbortOnConnectFail = false;
            config.ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds;
            config.AsyncTimeout = Math.Max(config.AsyncTimeout, (int)options.OperationTimeout.TotalMilliseconds);
            config.SyncTimeout = Math.Min(config.SyncTimeout, Math.Max(1000, (int)options.OperationTimeout.TotalMilliseconds));
            if (!configuration.Contains("connectRetry", StringComparison.OrdinalIgnoreCase))
            {
                config.ConnectRetry = 1; // Build() must not block long on a server that is down: reconnects continue in the background
            }
            config.ClientName ??= "coherent-" + context.CacheName;
            var connection = ConnectionMultiplexer.Connect(config);
            return new RedisTier(connection, ownsConnection: true, options, context);
        };
        return builder;
    }

    /// <summary>
    /// Uses an existing StackExchange.Redis connection as the shared tier. The connection stays the caller's: the cache
    /// does not close it. Create it with <c>AbortOnConnectFail=false</c> so the cache survives a server that is down.
    /// </summary>
    public static CoherentCacheBuilder WithRedis(this CoherentCacheBuilder builder, IConnectionMultiplexer connection, Action<CoherentRedisOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(connection);
        var options = Configure(configure);
        builder.ExtraValidators.Add(options.Validate);
        builder.DistributedTierFactory = context => new RedisTier(connection, ownsConnection: false, options, context);
        return builder;
    }

    private static CoherentRedisOptions Configure(Action<CoherentRedisOptions>? configure)
    {
        var options = new CoherentRedisOptions();
        configure?.Invoke(options);
        return options;
    }
}
