using Coherent.Memcached.Store;
using Microsoft.Extensions.Logging;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>
/// One cache node on Memcached, as a separate process would have it: its own CoherentCache and client, on the test's key
/// prefix, families <c>item</c> (MaxStaleness <see cref="MaxStaleness"/>) and <c>cat</c> (the same, with fail-safe), short
/// timeouts, and its logs captured.
/// </summary>
internal sealed class McNode : IAsyncDisposable
{
    public static readonly TimeSpan MaxStaleness = TimeSpan.FromSeconds(1);

    private readonly IDisposable? _owned;

    private McNode(CoherentCache cache, CapturingLogs logs, IDisposable? owned = null)
    {
        Cache = cache;
        Logs = logs;
        _owned = owned;
    }

    public CoherentCache Cache { get; }

    public CapturingLogs Logs { get; }

    public MemcachedTier Tier => Cache.Diagnostics.SharedTierAs<MemcachedTier>();

    public MemcachedStore Store => Tier.Store;

    /// <summary>
    /// A node paired with the Redis bus: its own connection to <paramref name="redis"/> (owned by the node, as a separate
    /// process would have it), heartbeats every 50 ms.
    /// </summary>
    public static async Task<McNode> StartPairedAsync(string servers, string prefix, RedisProcess redis, Action<CoherentCacheBuilder>? build = null)
    {
        var connection = await redis.ConnectAsync();
        try
        {
            var transport = RedisInvalidation.CreateTransport(connection, prefix, TimeSpan.FromMilliseconds(300));
            var node = Start(servers, prefix, o =>
            {
                o.InvalidationTransport = transport;
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(50);
            }, build);
            return new McNode(node.Cache, node.Logs, connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public static McNode Start(string servers, string prefix, Action<CoherentMemcachedOptions>? memcached = null, Action<CoherentCacheBuilder>? build = null)
    {
        var logs = new CapturingLogs();
        var builder = new CoherentCacheBuilder()
            .WithLoggerFactory(LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug)))
            .Define("item", p => p.MaxStaleness(MaxStaleness).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh())
            .Define("cat", p => p.MaxStaleness(MaxStaleness).Ttl(TimeSpan.FromMinutes(5)).NoEarlyRefresh().FailSafe(TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(200)))
            .WithMemcached(servers, o =>
            {
                o.KeyPrefix = prefix;
                o.OperationTimeout = TimeSpan.FromMilliseconds(300);
                o.ConnectTimeout = TimeSpan.FromMilliseconds(300);
                o.RetryInterval = TimeSpan.FromMilliseconds(100);
                o.ProbeInterval = TimeSpan.FromMilliseconds(200);
                o.BreakerFailureThreshold = 2;
                memcached?.Invoke(o);
            });
        build?.Invoke(builder);
        return new McNode(builder.Build(), logs);
    }

    public bool HasLocal(string key) => Cache.Diagnostics.HasLocal(key);

    public async ValueTask DisposeAsync()
    {
        await Cache.DisposeAsync();
        _owned?.Dispose();
    }
}
