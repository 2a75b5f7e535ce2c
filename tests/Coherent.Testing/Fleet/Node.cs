using Coherent.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Coherent.Testing;

/// <summary>
/// One cache node: its own multiplexer and CoherentCache, as a separate process would have, on the fleet's key prefix
/// (each test its own, so tests share a server without seeing each other's keys), with families <c>item</c> and
/// <c>product</c> (MaxStaleness <see cref="MaxStaleness"/>), fast heartbeats and short timeouts, and its logs captured.
/// </summary>
public sealed class Node : IAsyncDisposable
{
    public static readonly TimeSpan MaxStaleness = TimeSpan.FromMilliseconds(1000);

    private Node(CoherentCache cache, ConnectionMultiplexer connection, CapturingLogs logs)
    {
        Cache = cache;
        Connection = connection;
        Logs = logs;
    }

    public CoherentCache Cache { get; }

    public ConnectionMultiplexer Connection { get; }

    public CapturingLogs Logs { get; }

    internal RedisTier Tier => Cache.Diagnostics.SharedTierAs<RedisTier>();

    public static async Task<Node> StartAsync(string configuration, string prefix, Action<CoherentRedisOptions>? redis = null, Action<CoherentCacheBuilder>? build = null, bool waitForBus = true)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(RedisAdmin.Options(configuration));
        return await StartAsync(connection, prefix, redis, build, waitForBus);
    }

    public static async Task<Node> StartAsync(ConnectionMultiplexer connection, string prefix, Action<CoherentRedisOptions>? redis = null, Action<CoherentCacheBuilder>? build = null, bool waitForBus = true)
    {
        var logs = new CapturingLogs();
        var builder = new CoherentCacheBuilder()
            .WithLoggerFactory(LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug)))
            .Define("item", p => p.MaxStaleness(MaxStaleness).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh())
            .Define("product", p => p.MaxStaleness(MaxStaleness).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh())
            .WithRedis(connection, o =>
            {
                o.KeyPrefix = prefix;
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(50);
                o.OperationTimeout = TimeSpan.FromMilliseconds(300);
                o.RetryInterval = TimeSpan.FromMilliseconds(100);
                redis?.Invoke(o);
            });
        build?.Invoke(builder);
        var node = new Node(builder.Build(), connection, logs);
        if (waitForBus)
        {
            await node.WaitForBusAsync();
        }

        return node;
    }

    /// <summary>Waits until the node's own heartbeat has come back twice (its subscription is live).</summary>
    public async Task WaitForBusAsync()
    {
        var start = Tier.Bus!.ConfirmedUpToMs;
        await Eventually.TrueAsync(() => Tier.Bus!.ConfirmedUpToMs > start + 40, TimeSpan.FromSeconds(10), "bus of node never confirmed");
    }

    public bool HasLocal(string key) => Cache.Diagnostics.HasLocal(key);

    public async ValueTask DisposeAsync()
    {
        await Cache.DisposeAsync();
        await Connection.DisposeAsync();
    }
}
