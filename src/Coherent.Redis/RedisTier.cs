using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Coherent.SharedTier;
using Coherent.Redis.Bus;
using Coherent.Redis.Resilience;
using Coherent.Redis.Storage;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>
/// The shared tier on Redis: fenced fills (this file), reads (<c>RedisTier.Reads.cs</c>), writes and retries (<c>RedisTier.Writes.cs</c>),
/// leases and fill notices (<c>RedisTier.Leases.cs</c>), and the bus (<see cref="BusMonitor"/>).
/// Never throws from reads: a failure is an unavailable read, counted by the circuit breaker.
/// </summary>
internal sealed partial class RedisTier : ISharedTier
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
    private readonly string _sender = Guid.NewGuid().ToString("N")[..12];
    private readonly Lock _sendLock = new();
    private readonly ConcurrentDictionary<string, long> _tagVersions = new(StringComparer.Ordinal);
    private readonly Meter _meter;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _queueCollapses;
    private readonly Counter<long> _rejectedFrames;
    private readonly BusSigner? _busSigner;
    private readonly CancellationTokenSource _stopping = new();
    private long _clearVersion;
    private long _seq;
    private BusMonitor? _bus;
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
        _busSigner = options.SigningKey is { } busSecret ? new BusSigner(DeriveKey(busSecret, "bus", options.KeyPrefix)) : null;
        _meter = new Meter("Coherent");
        _rejected = _meter.CreateCounter<long>("coherent.redis.rejected_entries", "{entry}", description: "Entries read from Redis and refused (corrupt, foreign, oversized, unsigned, aliased); each was served as a miss.");
        _rejectedFrames = _meter.CreateCounter<long>("coherent.redis.rejected_bus_frames", "{frame}", description: "Bus frames refused (unsigned or forged, replayed, a heartbeat from the future, a version out of range); each was ignored.");
        _queueCollapses = _meter.CreateCounter<long>("coherent.redis.pending_collapsed", "{collapse}", description: "Times the queue of invalidations waiting for Redis was full and collapsed into one clear of the whole cache.");
        _meter.CreateObservableUpDownCounter("coherent.redis.breaker_open", () => _breaker.IsOpen ? 1 : 0, "{breaker}", description: "1 while the Redis circuit breaker is open.");
        CacheName = context.CacheName;
    }

    public string CacheName { get; }

    public string SenderId => _sender;

    internal KeySpace Keys => _keys;

    internal CircuitBreaker Breaker => _breaker;

    internal BusMonitor? Bus => _bus;

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
        _bus = new BusMonitor(this, host, _connection, _options, _logger);
        _versionsLoaded = RefreshVersionsAsync();
        _ = PreloadScriptsAsync();
        _bus.Start();
        StartRetries();
    }

    internal ISharedTierHost Host => _host ?? throw new InvalidOperationException("The tier is not started.");

    public async ValueTask<bool> StoreIfEpochAsync(SharedTierKey sharedKey, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease, CancellationToken cancellationToken)
    {
        var key = sharedKey.Key;
        if (_breaker.IsOpen)
        {
            return true; // cannot fence or store: keep the value locally only (the engine's L1 is still fenced locally)
        }

        if (entry.Payload.Length > _maxPayloadBytes)
        {
            // Over Redis's payload limit (not the cache's): keep it in this node's L1 only and let the waiters compute.
            RedisLog.OversizedFill(_logger, key, entry.Payload.Length, _maxPayloadBytes);
            if (lease is not null)
            {
                await ReleaseLeaseAsync(lease, cancellationToken).ConfigureAwait(false);
            }

            return true;
        }

        await EnsureVersionsLoadedAsync(cancellationToken).ConfigureAwait(false);
        var envelope = await BuildEnvelopeAsync(key, entry, expectedEpoch, cancellationToken).ConfigureAwait(false);
        var ttl = TtlMs(entry);
        var versioned = IsVersioned(sharedKey);
        var keys = new RedisKey[] { versioned ? _keys.Pointer(key) : _keys.Data(key), _keys.Epoch(key), _keys.Lease(key) };
        var args = new RedisValue[] { expectedEpoch, envelope, ttl, lease?.Token ?? "", _keys.Channel.ToString(), Frame(BusMessage.Fill(key)), versioned ? _keys.VersionBase(key) : "" };
        var stored = await CallAsync(_db.ScriptEvaluateAsync(Scripts.Store, keys, args), cancellationToken).ConfigureAwait(false);
        return (long)stored == 1;
    }

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
        return new SharedTierEnvelopeData(entry.CreatedAtMs, entry.ExpiresAtMs, epoch, entry.DeltaMs, versions.ClearVersion, versions.Stamp(entry.Tags), entry.Payload);
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

    /// <summary>Issues a bus-publishing script under the send lock, so sequence numbers reach Redis in order.</summary>
    internal Task<RedisResult> SendSequenced(string script, RedisKey[] keys, Func<long, RedisValue[]> args)
    {
        lock (_sendLock)
        {
            var seq = ++_seq;
            Task<RedisResult> call;
            try
            {
                call = _db.ScriptEvaluateAsync(script, keys, args(seq));
            }
            catch (RedisCommandException)
            {
                // Refused by the client before sending (keys spanning Cluster slots): nothing was published under this number,
                // and none was issued since (the lock), so take it back; a burned number is a gap that drops every node's L1.
                _seq--;
                throw;
            }

            if (call.IsFaulted && call.Exception?.InnerException is RedisCommandException)
            {
                _seq--; // the same refusal, reported through the task
            }

            return call;
        }
    }

    /// <summary>Runs <paramref name="send"/> under the send lock with the last sequence number issued.</summary>
    internal void WithSendLock(Action<long> send)
    {
        lock (_sendLock)
        {
            send(_seq);
        }
    }

    internal Task<TimeSpan> PingAsync() => _db.PingAsync();

    /// <summary>Publishes a heartbeat carrying the last sequence number issued before it.</summary>
    internal Task<long> PublishHeartbeat(Func<long, string> message)
    {
        lock (_sendLock)
        {
            RecordLastSequence(_seq);
            return _db.PublishAsync(_keys.Channel, Frame(message(_seq)));
        }
    }

    /// <summary>
    /// Leaves this node's last issued sequence number in Redis (under the send lock, after the messages it counts), so that a
    /// node subscribing later starts from it: a message of ours that it then misses, even its first, is a detected gap.
    /// The recorded number is never ahead of what was published, so the baseline can only report a gap too many.
    /// </summary>
    internal void RecordLastSequence(long seq) => _db.HashSet(_keys.Senders, _sender, seq, flags: CommandFlags.FireAndForget);

    /// <summary>Every sender's last recorded sequence number (see <see cref="RecordLastSequence"/>).</summary>
    internal async Task<IReadOnlyList<(string Sender, long Seq)>> ReadSenderBaselinesAsync()
    {
        var entries = await CallAsync(_db.HashGetAllAsync(_keys.Senders), CancellationToken.None).ConfigureAwait(false);
        var baselines = new List<(string, long)>(entries.Length);
        foreach (var entry in entries)
        {
            if (entry.Value.TryParse(out long seq) && seq >= 0)
            {
                baselines.Add((entry.Name.ToString(), seq));
            }
        }

        return baselines;
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        _bus?.OnConnectionLost(e.ConnectionType, e.Exception);
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            _breaker.Trip(e.Exception);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopRetriesAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        _connection.ConnectionFailed -= OnConnectionFailed;
        if (_bus is not null)
        {
            await _bus.DisposeAsync().ConfigureAwait(false);
        }

        // Queued invalidations would otherwise vanish with the process: one last attempt, and a log line for each that failed.
        await FlushPendingAsync().ConfigureAwait(false);
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
