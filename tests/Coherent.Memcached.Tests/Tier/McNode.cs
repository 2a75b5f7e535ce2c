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

    private McNode(CoherentCache cache, CapturingLogs logs)
    {
        Cache = cache;
        Logs = logs;
    }

    public CoherentCache Cache { get; }

    public CapturingLogs Logs { get; }

    public MemcachedTier Tier => Cache.Diagnostics.SharedTierAs<MemcachedTier>();

    public MemcachedStore Store => Tier.Store;

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

    public ValueTask DisposeAsync() => Cache.DisposeAsync();
}
