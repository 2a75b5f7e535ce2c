using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.ExceptionServices;
using Coherent.SharedTier;
using Coherent.Redis.Bus;
using Coherent.Redis.Resilience;
using Coherent.Redis.Storage;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>
/// The shared tier on Redis: fenced fills (this file), reads (<c>RedisTier.Reads.cs</c>), writes and retries (<c>RedisTier.Writes.cs</c>),
/// leases and fill notices (<c>RedisTier.Leases.cs</c>), and the bus: the core's protocol (<see cref="InvalidationBus"/>) over
/// Redis pub/sub (<see cref="RedisInvalidationTransport"/>).
/// Never throws from reads: a failure is an unavailable read, counted by the circuit breaker.
/// </summary>
internal sealed partial class RedisTier : ISharedTier, IInvalidationBusListener, IRedisCalls
{
    private readonly IConnectionMultiplexer _connection;
    private readonly bool _ownsConnection;
    private readonly CoherentRedisOptions _options;
    private readonly KeySpace _keys;
    private readonly IDatabase _db;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CircuitBreaker _breaker;
    private readonly long _maxPayloadBytes;
    private readonly byte[]? _signingKey;
    private readonly ConcurrentDictionary<string, long> _tagVersions = new(StringComparer.Ordinal);
    private readonly Meter _meter;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _queueCollapses;
    private readonly Counter<long> _rejectedFrames;
    private readonly CancellationTokenSource _stopping = new();
    private long _clearVersion;
    private InvalidationBus? _bus;
    private RedisInvalidationTransport? _transport;
    private ITimer? _maintenance;
    private long _ticks;
    private Task _versionsLoaded = Task.CompletedTask;
    private ISharedTierHost? _host;

    public RedisTier(IConnectionMultiplexer connection, bool ownsConnection, CoherentRedisOptions options, SharedTierContext context)
    {
        _connection = connection;
        _ownsConnection = ownsConnection;
        _options = options;
        _keys = new KeySpace(options.KeyPrefix);
        _db = connection.GetDatabase();
        _logger = context.LoggerFactory.CreateLogger("Coherent.Redis");
        _time = context.TimeProvider;
        _breaker = new CircuitBreaker(options.BreakerFailureThreshold, _logger);
        _maxPayloadBytes = options.MaxPayloadBytes ?? context.MaxPayloadBytes;
        _signingKey = options.SigningKey is { } secret ? DeriveKey(secret, "envelope", options.KeyPrefix) : null;
        _meter = new Meter("Coherent");
        _rejected = _meter.CreateCounter<long>("coherent.redis.rejected_entries", "{entry}", description: "Entries read from Redis and refused (corrupt, foreign, oversized, unsigned, aliased); each was served as a miss.");
        _rejectedFrames = _meter.CreateCounter<long>("coherent.redis.rejected_bus_frames", "{frame}", description: "Bus frames refused (unsigned or forged, replayed, a heartbeat from the future, a version out of range); each was ignored.");
        _queueCollapses = _meter.CreateCounter<long>("coherent.redis.pending_collapsed", "{collapse}", description: "Times the queue of invalidations waiting for Redis was full and collapsed into one clear of the whole cache.");
        _meter.CreateObservableUpDownCounter("coherent.redis.breaker_open", () => _breaker.IsOpen ? 1 : 0, "{breaker}", description: "1 while the Redis circuit breaker is open.");
        CacheName = context.CacheName;
    }

    public string CacheName { get; }

    /// <summary>This node's name on the bus (tests).</summary>
    public string SenderId => StartedBus.SenderId;

    internal KeySpace Keys => _keys;

    internal CircuitBreaker Breaker => _breaker;

    internal InvalidationBus? Bus => _bus;

    internal RedisInvalidationTransport? Transport => _transport;

    internal IDatabase Database => _db;

    internal ILogger Logger => _logger;

    private InvalidationBus StartedBus => _bus ?? throw new InvalidOperationException("The tier is not started.");

    /// <summary>Entries refused on read, by reason (tests and diagnostics).</summary>
    internal ConcurrentDictionary<SharedTierEnvelopeRejection, long> Rejections { get; } = new();

    public SharedTierGuarantees Guarantees => SharedTierGuarantees.All;

    public SharedTierState State => _breaker.IsOpen ? SharedTierState.Unavailable
        : _bus is { Suspect: true } ? SharedTierState.Degraded : SharedTierState.Healthy;

    public void Start(ISharedTierHost host)
    {
        _host = host;
        foreach (var family in host.Families.Where(f => f.MaxStaleness < 4 * _options.HeartbeatInterval))
        {
            RedisLog.HeartbeatTooSlow(_logger, family.Name, family.MaxStaleness, _options.HeartbeatInterval);
        }

        _connection.ConnectionFailed += OnConnectionFailed;
        _transport = new RedisInvalidationTransport(_connection, _keys, this, _options.OperationTimeout, _logger, watchConnection: false,
            _options.BeforeSubscribe, _options.DropIncomingMessage);
        _bus = new InvalidationBus(host, _transport, new InvalidationBusOptions
        {
            HeartbeatInterval = _options.HeartbeatInterval,
            FrameSigningKey = _options.SigningKey is { } busSecret ? DeriveKey(busSecret, "bus", _options.KeyPrefix) : null,
            Logger = _logger,
            Listener = this,
        });
        _versionsLoaded = RefreshVersionsAsync();
        _ = PreloadScriptsAsync();
        _bus.Start();
        _maintenance = _time.CreateTimer(static s => _ = ((RedisTier)s!).MaintainAsync(), this, _options.HeartbeatInterval, _options.HeartbeatInterval);
        _retries = CreateRetryQueue(host);
        _retries.Start();
    }

    internal ISharedTierHost Host => _host ?? throw new InvalidOperationException("The tier is not started.");

    /// <summary>
    /// Whether the key's family is stored as versioned keys, by the family the engine resolved for it (versioned families
    /// must be declared, so every node resolves them alike; see <see cref="RedisSetup"/>).
    /// </summary>
    private bool IsVersioned(SharedTierKey key) => _options.VersionedFamilies.Count > 0 && _options.VersionedFamilies.Contains(key.Family);

    /// <summary>The remaining time to live, on the engine's clock (the one that stamped the entry): a wall-clock step does not stretch it.</summary>
    /// <summary>How long Redis keeps the entry: past its expiry while fail-safe may still serve it (<see cref="SharedTierEntry.KeepUntilMs"/>).</summary>
    private long TtlMs(SharedTierEntry entry) => Math.Max(1, entry.KeepUntilMs - Host.NowMs());

    private async ValueTask<byte[]> BuildEnvelopeAsync(string key, SharedTierEntry entry, long epoch, CancellationToken cancellationToken) =>
        SharedTierEnvelope.Write(key, await EnvelopeDataAsync(key, entry, epoch, cancellationToken).ConfigureAwait(false), _signingKey);

    private async ValueTask<SharedTierEnvelopeData> EnvelopeDataAsync(string key, SharedTierEntry entry, long epoch, CancellationToken cancellationToken)
    {
        if (entry.Payload.Length > _maxPayloadBytes)
        {
            throw new PayloadTooLargeException(key, entry.Payload.Length, _maxPayloadBytes);
        }

        // A fill carries the versions captured before its factory ran; a write is stamped with the versions known now.
        var versions = entry.Versions ?? await KnownVersionsAsync(entry.Tags, cancellationToken).ConfigureAwait(false);
        return new SharedTierEnvelopeData(entry.CreatedAtMs, entry.ExpiresAtMs, epoch, entry.DeltaMs, versions.ClearVersion, versions.Stamp(entry.Tags), entry.Payload) { Metadata = entry.Metadata };
    }

    private void Reject(string key, SharedTierEnvelopeRejection rejection)
    {
        CountRejection(rejection);
        if (rejection == SharedTierEnvelopeRejection.OlderThanEpoch)
        {
            // Also the honest race of a signed write-through (its value is restamped with its epoch right after): not a warning.
            RedisLog.EntryOlderThanEpoch(_logger, key);
            return;
        }

        RedisLog.EntryRejected(_logger, key, rejection.ToString());
    }

    private void CountRejection(SharedTierEnvelopeRejection rejection)
    {
        Rejections.AddOrUpdate(rejection, 1, static (_, n) => n + 1);
        _rejected.Add(1, new KeyValuePair<string, object?>("coherent.cache", CacheName), new KeyValuePair<string, object?>("coherent.reason", rejection.ToString().ToLowerInvariant()));
    }

    /// <summary>Every Redis call goes through here: bounded by the operation timeout, counted by the breaker.</summary>
    internal async Task<T> CallAsync<T>(Task<T> call, CancellationToken cancellationToken)
    {
        try
        {
            var result = await call.WaitAsync(_options.OperationTimeout, _time, cancellationToken).ConfigureAwait(false);
            _breaker.OnSuccess();
            return result;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            ObserveLateFault(call);
            // A refusal (NOPERM on one key, a poisoned value) is an answer from a live server: it must not open the breaker for all.
            if (ex is not PayloadTooLargeException && !IsRefusal(ex))
            {
                _breaker.OnFailure(ex);
            }

            throw;
        }
    }

    Task<T> IRedisCalls.CallAsync<T>(Task<T> call, CancellationToken cancellationToken) => CallAsync(call, cancellationToken);

    /// <summary>
    /// Issues a frame-publishing script. The bus calls this under its send lock, so sequence numbers reach Redis in the order
    /// they were issued, and the script writes and publishes in one step: a write that lands is always announced (no process
    /// death or broken connection between the two), and a tag or clear frame carries the version the bump produced. A command
    /// the client refuses before sending (keys spanning Cluster slots) throws here, so the bus takes its number back: nothing
    /// was published under it.
    /// </summary>
    private Task<RedisResult> Evaluate(string script, RedisKey[] keys, RedisValue[] args)
    {
        var call = _db.ScriptEvaluateAsync(script, keys, args);
        if (call.IsFaulted && call.Exception?.InnerException is RedisCommandException refused)
        {
            ExceptionDispatchInfo.Throw(refused);
        }

        return call;
    }

    internal Task<TimeSpan> PingAsync() => _db.PingAsync();

    /// <summary>Every heartbeat interval: probes the server while the breaker is open, and re-reads the versions about once a second.</summary>
    private async Task MaintainAsync()
    {
        try
        {
            if (_breaker.IsOpen)
            {
                await CallAsync(PingAsync(), CancellationToken.None).ConfigureAwait(false);
            }

            var interval = Math.Max(1, (long)_options.HeartbeatInterval.TotalMilliseconds);
            if (++_ticks % Math.Max(1, 1000 / interval) == 0)
            {
                await RefreshVersionsAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or OperationCanceledException)
        {
            // counted by the breaker; the bus turns a silent server into a suspect bus
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        _transport?.OnConnectionLost(e.ConnectionType, e.Exception);
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            _breaker.Trip(e.Exception);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _connection.ConnectionFailed -= OnConnectionFailed;
        if (_maintenance is not null)
        {
            await _maintenance.DisposeAsync().ConfigureAwait(false);
        }

        if (_bus is not null)
        {
            await _bus.DisposeAsync().ConfigureAwait(false);
        }

        // Queued invalidations would otherwise vanish with the process: one last attempt, and a log line for each that failed.
        if (_retries is not null)
        {
            await _retries.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var waiter in _fillWaiters.Values)
        {
            waiter.TrySetResult(false);
        }

        _meter.Dispose();
        if (_ownsConnection)
        {
            await _connection.CloseAsync().ConfigureAwait(false);
            _connection.Dispose();
        }

        _stopping.Dispose();
    }
}
