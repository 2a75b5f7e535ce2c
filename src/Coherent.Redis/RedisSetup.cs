using Coherent.SharedTier;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>
/// One <c>WithRedis</c> call. Everything is resolved when the cache is built, not when <c>WithRedis</c> is called, because
/// the configuration section and the container may be given to the builder after it: options are defaults, then the
/// builder's <c>Redis</c> configuration section, then the code's callback; the connection is the one passed in code, else
/// <c>Redis:Configuration</c>, else the container's <see cref="IConnectionMultiplexer"/>. A connection Coherent opens is
/// Coherent's to close; one it was given (in code or by the container) is never closed by the cache.
/// </summary>
internal sealed class RedisSetup(CoherentCacheBuilder builder, string? connectionString, IConnectionMultiplexer? connection, Action<CoherentRedisOptions>? configure)
    : ISharedTierFactory
{
    private CoherentRedisOptions? _options;
    private ConfigurationOptions? _parsed;
    private string? _connectionText;
    private IConnectionMultiplexer? _given;

    /// <summary>Makes this call the cache's shared tier (a later <c>WithRedis</c> or <c>WithSharedTier</c> replaces it).</summary>
    public CoherentCacheBuilder Attach() => builder.WithSharedTier(this);

    public void Validate(SharedTierContext context, ICollection<string> problems)
    {
        // A keyed cache gets its own prefix by default, so two keyed caches on one server never share keys or a bus channel.
        var options = new CoherentRedisOptions();
        if (context.IsKeyed)
        {
            options.KeyPrefix = context.CacheName;
        }

        string? configured = null;
        var section = context.Configuration?.GetSection("Redis");
        if (section is not null && section.Exists())
        {
            configured = RedisConfigurationReader.Read(section, options, problems);
        }

        configure?.Invoke(options);
        options.Validate(problems);
        ConfigurationValues.CheckDeclaredFamilies(problems, "Redis", nameof(options.VersionedFamilies), options.VersionedFamilies, context);
        _options = options;
        _given = null;
        _parsed = null;
        var configuredPath = $"{section?.Path}:{RedisConfigurationReader.ConnectionKey}";
        if ((connection is not null || connectionString is not null) && configured is not null)
        {
            problems.Add($"Configuration: '{configuredPath}' is set but WithRedis(...) was given a connection in code: remove one (the code's would win, and the setting would do nothing).");
        }

        if (connection is not null)
        {
            _given = connection;
        }
        else if ((connectionString ?? configured) is { } text)
        {
            Parse(text, connectionString is null ? $"'{configuredPath}'" : "given to WithRedis", problems);
        }
        else if (context.Services?.GetService<IConnectionMultiplexer>() is { } registered)
        {
            _given = registered;
        }
        else
        {
            problems.Add(context.Services is null
                ? $"WithRedis() has no connection: the cache is not built through dependency injection and '{configuredPath}' is not set; pass a connection string or an IConnectionMultiplexer to WithRedis(...)."
                : $"WithRedis() has no connection: '{configuredPath}' is not set and no IConnectionMultiplexer is registered in the container; set one of them, or pass a connection to WithRedis(...).");
        }
    }

    private void Parse(string text, string origin, ICollection<string> problems)
    {
        try
        {
            var parsed = ConfigurationOptions.Parse(text);
            if (parsed.EndPoints.Count == 0)
            {
                problems.Add($"Redis configuration ({origin}) names no endpoint.");
                return;
            }

            _parsed = parsed;
            _connectionText = text;
        }
        catch (ArgumentException ex)
        {
            // The text is not echoed: a connection string may carry a password.
            problems.Add($"Redis configuration ({origin}) is invalid: {ex.Message}");
        }
    }

    public ISharedTier Create(SharedTierContext context)
    {
        var options = _options ?? throw new InvalidOperationException("WithRedis was not validated before the tier was built.");
        if (_given is not null)
        {
            return new RedisTier(_given, ownsConnection: false, options, context);
        }

        var config = (_parsed ?? throw new InvalidOperationException("WithRedis has no connection.")).Clone();
        config.AbortOnConnectFail = false;
        config.ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds;
        config.AsyncTimeout = Math.Max(config.AsyncTimeout, (int)options.OperationTimeout.TotalMilliseconds);
        config.SyncTimeout = Math.Min(config.SyncTimeout, Math.Max(1000, (int)options.OperationTimeout.TotalMilliseconds));
        if (_connectionText?.Contains("connectRetry", StringComparison.OrdinalIgnoreCase) != true)
        {
            config.ConnectRetry = 1; // Build() must not block long on a server that is down: reconnects continue in the background
        }

        config.ClientName ??= "coherent-" + context.CacheName;
        return new RedisTier(ConnectionMultiplexer.Connect(config), ownsConnection: true, options, context);
    }
}
