using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Coherent.Distributed;
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
internal sealed class BusMonitor : IAsyncDisposable
{
    /// <summary>How far ahead of this node's clock its own heartbeat's send time may be (it is read from the same clock).</summary>
    private const long FutureToleranceMs = 20;

    private readonly RedisTier _tier;
    private readonly IDistributedTierOwner _owner;
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

    public BusMonitor(RedisTier tier, IDistributedTierOwner owner, IConnectionMultiplexer connection, CoherentRedisOptions options, ILogger logger)
    {
        _tier = tier;
        _owner = owner;
        _connection = connection;
        _options = options;
        _logger = logger;
        _intervalMs = Math.Max(1, (long)options.HeartbeatInterval.TotalMilliseconds);
        IsCluster = connection.GetServers().Any(s => s.ServerType == ServerType.Cluster);
        _sequences = new SequenceTracker(IsCluster ? Math.Max(50, 2 * _intervalMs) : 0);
        _lastArrivalMs = _lastConfirmedMs = owner.Clock.PreciseNowMs();
    }

    public bool IsCluster { get; }

    public bool Suspect
    {
        get
        {
            lock (_stateLock)
            {
                return _suspect;
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
        _timer = _owner.Clock.TimeProvider.CreateTimer(static s => _ = ((BusMonitor)s!).TickAsync(), this, TimeSpan.Zero, _options.HeartbeatInterval);
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
            var queue = await _connection.GetSubscriber().SubscribeAsync(_tier.Keys.Channel).WaitAsync(_options.OperationTimeout).ConfigureAwait(false);
            queue.OnMessage(Handle);
            _queue = queue;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            MarkSuspect("cannot subscribe: " + ex.Message, loss: true);
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
            var now = _owner.Clock.PreciseNowMs();
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
            var message = _tier.Frame(BusMessage.Heartbeat(_tier.SenderId, seq, now, masters.Length, id));
            foreach (var master in masters)
            {
                calls.Add(master.ExecuteAsync("PUBLISH", _tier.Keys.Channel.ToString(), message));
            }
        });
        await _tier.CallAsync(Task.WhenAll(calls), CancellationToken.None).ConfigureAwait(false);
    }

    private void Handle(ChannelMessage message)
    {
        string text = message.Message!;
        try
        {
            if (_options.DropIncomingMessage?.Invoke(text) == true || !_tier.TryOpenFrame(text, out text))
            {
                return;
            }

            if (text.StartsWith("F|", StringComparison.Ordinal))
            {
                _tier.OnFilled(text[2..]);
                return;
            }

            if (!BusMessage.TryParse(text, out var kind, out var sender, out var number, out var rest))
            {
                RedisLog.BadMessage(_logger, text, null);
                return;
            }

            // An invalidation's L1 removal is what the propagation delay measures: nothing but parsing comes before it.
            var self = sender == _tier.SenderId;
            if (!self && kind != 'H' && _sequences.IsDuplicate(sender, number))
            {
                _tier.RejectFrame("replayed", text); // a copy of a frame already handled (or declared lost): never acted on twice
                return;
            }

            long now;
            switch (kind)
            {
                case 'I' when BusMessage.TrySplitFirst(text, rest, out var sentAt, out var key):
                    if (!self)
                    {
                        _owner.OnRemoteInvalidated(key);
                        _owner.RecordInvalidationLag(key, _owner.Clock.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds() - sentAt);
                    }

                    break;
                // The tier learns the new version before local versions move: an L2 read the tier judged with the old version
                // then always sees the local bump land after its start, and does not fill L1 (fills are stamped with the
                // versions captured before their factory ran, so this order is safe for them too).
                case 'T' when BusMessage.TrySplitLast(text, rest, out var tag, out var version):
                    _tier.ObserveBusTagVersion(tag, version, text);
                    if (!self)
                    {
                        _owner.OnRemoteTagInvalidated(tag);
                    }

                    break;
                case 'C' when long.TryParse(text.AsSpan(rest), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var clear):
                    _tier.ObserveBusClearVersion(clear, text);
                    if (!self)
                    {
                        _owner.OnRemoteCleared();
                    }

                    break;
                case 'H':
                    now = _owner.Clock.PreciseNowMs();
                    if (self)
                    {
                        OnOwnHeartbeat(text[rest..], now);
                    }
                    else if (_sequences.OnHeartbeat(sender, number, now) is > 0 and var lostTail)
                    {
                        OnGap(sender, lostTail, now);
                    }

                    return;
                default:
                    RedisLog.BadMessage(_logger, text, null);
                    return;
            }

            if (!self)
            {
                now = _owner.Clock.PreciseNowMs();
                if (_sequences.OnMessage(sender, number, now) is > 0 and var lost)
                {
                    OnGap(sender, lost, now);
                }
            }
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            RedisLog.BadMessage(_logger, text, ex);
        }
    }

    private void OnOwnHeartbeat(string rest, long now)
    {
        // rest = sentAtMs|copies|id
        var parts = rest.Split('|');
        if (parts.Length != 3 || !long.TryParse(parts[0], out var sentAt) || !int.TryParse(parts[1], out var copies) || !long.TryParse(parts[2], out var id))
        {
            return;
        }

        // This node's own send time and id: one from the future (or an id never sent) is forged, and would confirm L1 past now.
        if (sentAt > now + FutureToleranceMs || id > Interlocked.Read(ref _heartbeatId))
        {
            _tier.RejectFrame("future_heartbeat", rest);
            return;
        }

        // An earlier heartbeat of ours again (a Cluster's copies share an id): it would end a suspect state it proves nothing about.
        if (copies > 1 ? id < Volatile.Read(ref _lastOwnHeartbeatId) : id <= Volatile.Read(ref _lastOwnHeartbeatId))
        {
            _tier.RejectFrame("replayed", rest);
            return;
        }

        Volatile.Write(ref _lastOwnHeartbeatId, id);

        if (copies > 1)
        {
            var seen = _copies.AddOrUpdate(id, 1, static (_, n) => n + 1);
            if (seen < copies)
            {
                return;
            }

            _copies.TryRemove(id, out _);
            foreach (var old in _copies.Keys.Where(k => k < id))
            {
                _copies.TryRemove(old, out _);
            }
        }

        Volatile.Write(ref _lastArrivalMs, now);
        bool recovered, loss;
        long outageStart;
        lock (_stateLock)
        {
            recovered = _suspect;
            loss = _lossSuspected;
            outageStart = _outageStartMs;
            _suspect = false;
            _lossSuspected = false;
        }

        if (recovered)
        {
            var dropped = _owner.DropLocalEntriesFetchedBefore(loss ? now : outageStart);
            Recoveries++;
            RedisLog.BusRecovered(_logger, now - outageStart, dropped);
            _ = RefreshQuietlyAsync();
        }

        if (!_sequences.AnyMissing && sentAt > Volatile.Read(ref _lastConfirmedMs))
        {
            Volatile.Write(ref _lastConfirmedMs, sentAt);
            _owner.SetConfirmedUpTo(sentAt);
        }
    }

    private async Task RefreshQuietlyAsync()
    {
        try
        {
            await _tier.RefreshVersionsAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException)
        {
            // the periodic refresh retries
        }
    }

    private void OnGap(string sender, long lost, long now)
    {
        GapsDetected += lost;
        var dropped = _owner.DropLocalEntriesFetchedBefore(now);
        RedisLog.SequenceGap(_logger, sender, lost, dropped);
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
