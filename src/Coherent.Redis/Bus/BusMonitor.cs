using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Coherent.SharedTier;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Coherent.Redis.Bus;

/// <summary>
/// The invalidation bus: subscription, heartbeats, sequence checks and L1 confirmation.
/// <para>Confirmation without clock skew: each node publishes its own heartbeat carrying its own send time; pub/sub keeps
/// one connection's order, so when a node receives its own heartbeat back, every invalidation published before it has
/// arrived, and it confirms its L1 up to that send time. On a Cluster the heartbeat goes through every master and counts
/// only when all copies are back.</para>
/// <para>Trouble: an overdue heartbeat (server paused, half-open connection) or a lost subscription makes the bus
/// "suspect": confirmation stops, so L1 entries age out after their family's MaxStaleness. When the node's heartbeat comes
/// back it drops every L1 entry fetched before the outage's start (or, when messages were certainly lost, before the
/// recovery). A sequence gap drops entries fetched before its detection.</para>
/// </summary>
internal sealed partial class BusMonitor : IAsyncDisposable
{
    /// <summary>How far ahead of this node's clock its own heartbeat's send time may be (it is read from the same clock).</summary>
    private const long FutureToleranceMs = 20;

    private readonly RedisTier _tier;
    private readonly ISharedTierHost _owner;
    private readonly IConnectionMultiplexer _connection;
    private readonly CoherentRedisOptions _options;
    private readonly ILogger _logger;
    private readonly SequenceTracker _sequences;
    private readonly ConcurrentDictionary<long, int> _copies = new();
    private readonly long _intervalMs;
    private readonly Lock _stateLock = new();
    private ITimer? _timer;
    private ChannelMessageQueue? _queue;
    private int _ticking;
    private long _ticks;
    private long _heartbeatId;
    private long _lastOwnHeartbeatId;
    private long _lastArrivalMs;
    private long _lastConfirmedMs;
    private bool _suspect;
    private bool _lossSuspected;
    private long _outageStartMs;
    private bool _disposed;
    private long _subscribedAtMs = long.MaxValue;
    private bool _readySinceSubscribe;

    public BusMonitor(RedisTier tier, ISharedTierHost owner, IConnectionMultiplexer connection, CoherentRedisOptions options, ILogger logger)
    {
        _tier = tier;
        _owner = owner;
        _connection = connection;
        _options = options;
        _logger = logger;
        _intervalMs = Math.Max(1, (long)options.HeartbeatInterval.TotalMilliseconds);
        IsCluster = connection.GetServers().Any(s => s.ServerType == ServerType.Cluster);
        _sequences = new SequenceTracker(IsCluster ? Math.Max(50, 2 * _intervalMs) : 0, forgetAfterMs: Math.Max(60_000, 100 * _intervalMs));
        _lastArrivalMs = _lastConfirmedMs = owner.NowMs();
    }

    public bool IsCluster { get; }

    /// <summary>True while the bus cannot vouch for L1: in trouble, or not yet confirmed since subscribing (a starting node).</summary>
    public bool Suspect
    {
        get
        {
            lock (_stateLock)
            {
                return _suspect || !Volatile.Read(ref _readySinceSubscribe);
            }
        }
    }

    /// <summary>Send time of the last own heartbeat that came back (the node's L1 confirmation).</summary>
    public long ConfirmedUpToMs => Volatile.Read(ref _lastConfirmedMs);

    /// <summary>Bus messages lost (sequence gaps) seen so far.</summary>
    public long GapsDetected { get; private set; }

    /// <summary>Times the bus recovered from a suspect state.</summary>
    public long Recoveries { get; private set; }

    public void Start()
    {
        _timer = _owner.TimeProvider.CreateTimer(static s => _ = ((BusMonitor)s!).TickAsync(), this, TimeSpan.Zero, _options.HeartbeatInterval);
    }

    /// <summary>Subscribes once (StackExchange.Redis resubscribes by itself after reconnects); retried by every tick until it works.</summary>
    private async Task TrySubscribeAsync()
    {
        if (_queue is not null)
        {
            return;
        }

        try
        {
            if (_options.BeforeSubscribe is { } hold)
            {
                await hold().ConfigureAwait(false);
            }

            var queue = await _connection.GetSubscriber().SubscribeAsync(_tier.Keys.Channel).WaitAsync(_options.OperationTimeout).ConfigureAwait(false);

            // From here on every message reaches this node in order; those published before did not. So nothing fetched
            // before now may ever be confirmed by a heartbeat (it is dropped, and L2 reads in flight do not fill), the tag
            // and clear versions are reloaded, and each sender's numbering starts from the server's record, not from its
            // first message. Messages arriving meanwhile wait in the queue until the handler is attached.
            await SeedSequencesAsync().ConfigureAwait(false);
            var now = _owner.NowMs();
            Volatile.Write(ref _subscribedAtMs, now);
            ReconcileAfterPossibleLoss(now);
            queue.OnMessage(Handle);
            _queue = queue;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            MarkSuspect("cannot subscribe: " + ex.Message, loss: true);
        }
    }

    private async Task SeedSequencesAsync()
    {
        try
        {
            foreach (var (sender, seq) in await _tier.ReadSenderBaselinesAsync().ConfigureAwait(false))
            {
                if (sender != _tier.SenderId)
                {
                    _sequences.Seed(sender, seq, _owner.NowMs());
                }
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            RedisLog.ReadFailed(_logger, "(bus sequence baselines)", ex); // senders then start from their first message
        }
    }

    private async Task TickAsync()
    {
        if (_disposed || Interlocked.Exchange(ref _ticking, 1) == 1)
        {
            return;
        }

        try
        {
            await TrySubscribeAsync().ConfigureAwait(false);
            var now = _owner.NowMs();
            if (now - Volatile.Read(ref _lastArrivalMs) > 3 * _intervalMs + 50)
            {
                MarkSuspect("own heartbeat overdue", loss: false);
            }

            if (_sequences.Expire(now) is { } lost)
            {
                OnGap(lost.Sender, lost.Lost, now);
            }

            if (_tier.Breaker.IsOpen)
            {
                await _tier.CallAsync(_tier.PingAsync(), CancellationToken.None).ConfigureAwait(false);
            }

            await PublishHeartbeatAsync(now).ConfigureAwait(false);
            if (++_ticks % Math.Max(1, 1000 / _intervalMs) == 0)
            {
                await _tier.RefreshVersionsAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or OperationCanceledException)
        {
            // counted by the breaker; the overdue check above turns a silent bus into a suspect one
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }

    private async Task PublishHeartbeatAsync(long now)
    {
        var id = Interlocked.Increment(ref _heartbeatId);
        if (!IsCluster)
        {
            await _tier.CallAsync(_tier.PublishHeartbeat(seq => BusMessage.Heartbeat(_tier.SenderId, seq, now, 1, id)), CancellationToken.None).ConfigureAwait(false);
            return;
        }

        // Cluster: one copy through every master, so the heartbeat follows every master's earlier publications.
        var masters = _connection.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToArray();
        if (masters.Length == 0)
        {
            return;
        }

        var calls = new List<Task<RedisResult>>(masters.Length);
        _tier.WithSendLock(seq =>
        {
            _tier.RecordLastSequence(seq);
            var message = _tier.Frame(BusMessage.Heartbeat(_tier.SenderId, seq, now, masters.Length, id));
            foreach (var master in masters)
            {
                calls.Add(master.ExecuteAsync("PUBLISH", _tier.Keys.Channel.ToString(), message));
            }
        });
        await _tier.CallAsync(Task.WhenAll(calls), CancellationToken.None).ConfigureAwait(false);
    }

    private void OnGap(string sender, long lost, long now)
    {
        GapsDetected += lost;
        var dropped = ReconcileAfterPossibleLoss(now);
        RedisLog.SequenceGap(_logger, sender, lost, dropped);
    }

    /// <summary>
    /// Messages may have been missed before <paramref name="before"/> (a gap, an outage, a new subscription): the tag and clear
    /// versions are reloaded before anything is judged with them again (a lost message may have been one of those), then
    /// every L1 entry fetched earlier is dropped. The one rule for all three cases. Returns how many entries were dropped.
    /// </summary>
    private int ReconcileAfterPossibleLoss(long before)
    {
        _tier.DistrustVersions();
        return _owner.DropLocalEntriesFetchedBefore(before);
    }

    private void MarkSuspect(string reason, bool loss)
    {
        lock (_stateLock)
        {
            _lossSuspected |= loss;
            if (_suspect)
            {
                return;
            }

            _suspect = true;
            _outageStartMs = Volatile.Read(ref _lastConfirmedMs);
        }

        RedisLog.BusSuspect(_logger, reason);
    }

    public void OnConnectionLost(ConnectionType type, Exception? exception)
    {
        // Messages published while the subscription is down are lost for good; sequence numbers restart from scratch.
        _sequences.Reset();
        MarkSuspect($"{type} connection lost ({exception?.Message ?? "unknown"})", loss: true);
    }

    /// <summary>For tests: the endpoint the bus subscription uses.</summary>
    public EndPoint? SubscribedEndpoint => _connection.GetSubscriber().SubscribedEndpoint(_tier.Keys.Channel);

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        if (_queue is not null)
        {
            try
            {
                await _queue.UnsubscribeAsync().WaitAsync(_options.OperationTimeout).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                // closing anyway
            }
        }
    }
}
