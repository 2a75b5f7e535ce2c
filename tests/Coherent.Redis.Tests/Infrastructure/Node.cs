using System.Collections.Concurrent;
using System.Diagnostics;
using Coherent.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>One cache node: its own multiplexer and CoherentCache, as a separate process would have.</summary>
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

    internal RedisTier Tier => (RedisTier)Cache.Tier!;

    public static async Task<Node> StartAsync(string configuration, string prefix, Action<CoherentRedisOptions>? redis = null, Action<CoherentCacheBuilder>? build = null, bool waitForBus = true)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(RedisServer.Options(configuration));
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

    public bool HasLocal(string key) => Cache.Local.Peek(key, out _);

    public async ValueTask DisposeAsync()
    {
        await Cache.DisposeAsync();
        await Connection.DisposeAsync();
    }
}

/// <summary>Bounded waits on real network effects (never a bare sleep).</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, string because)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                Assert.Fail($"Timed out after {timeout}: {because}");
            }

            await Task.Delay(5);
        }
    }

    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string because)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout)
            {
                Assert.Fail($"Timed out after {timeout}: {because}");
            }

            await Task.Delay(10);
        }
    }
}

/// <summary>Collects log events so tests can count them (one line per breaker state change, not a storm).</summary>
public sealed class CapturingLogs : ILoggerProvider
{
    public ConcurrentQueue<(int EventId, LogLevel Level, string Message)> Events { get; } = new();

    public int Count(int eventId) => Events.Count(e => e.EventId == eventId);

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLogs owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Events.Enqueue((eventId.Id, logLevel, formatter(state, exception) + (exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)));
    }
}

/// <summary>A source of truth with a version number; factories read it, writers bump it.</summary>
public sealed class Source
{
    private long _version = 1;
    private long _runs;

    public long Version => Volatile.Read(ref _version);

    public long Runs => Volatile.Read(ref _runs);

    public long Bump() => Interlocked.Increment(ref _version);

    public ValueTask<long> ReadAsync(CancellationToken _)
    {
        Interlocked.Increment(ref _runs);
        return ValueTask.FromResult(Version);
    }
}

public static class Percentiles
{
    public static double Of(IReadOnlyList<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100 * sorted.Length) - 1)];
    }
}
