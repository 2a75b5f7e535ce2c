using System.Collections.Concurrent;
using Coherent.Invalidation;
using Microsoft.Extensions.Logging;

namespace Coherent.SharedTier;

/// <summary>
/// The invalidation protocol, over any <see cref="IInvalidationTransport"/>: sequence numbers, heartbeats, gap detection,
/// suspicion and recovery, frame signing and replay refusal. A tier that carries a bus creates one in its
/// <see cref="ISharedTier.Start"/>, sends its writes' frames through it, and reports <see cref="Suspect"/> in its state;
/// the bus tells the engine what other nodes did through the <see cref="ISharedTierHost"/> callbacks.
/// </summary>
/// <remarks>
/// <para>Confirmation without clock skew: each node publishes its own heartbeat carrying its own send time; the transport
/// keeps one publisher's order, so when a node receives its own heartbeat back, every invalidation published before it has
/// arrived, and it confirms its L1 up to that send time (<see cref="ISharedTierHost.SetConfirmedUpTo"/>). When frames take
/// several routes (a Redis Cluster), the heartbeat goes through every route and counts only when all copies are back.</para>
/// <para>Trouble: an overdue heartbeat (server paused, half-open connection) or a lost subscription makes the bus suspect:
/// confirmation stops, so L1 entries age out after their family's MaxStaleness. When the node's heartbeat comes back it
/// drops every L1 entry fetched before the outage's start (or, when frames were certainly lost, before the recovery). A
/// sequence gap drops entries fetched before its detection.</para>
/// </remarks>
public sealed partial class InvalidationBus : IAsyncDisposable
{
    /// <summary>How far ahead of this node's clock its own heartbeat's send time may be (it is read from the same clock).</summary>
    private const long FutureToleranceMs = 20;

    private readonly ISharedTierHost _host;
    private readonly IInvalidationTransport _transport;
    private readonly IInvalidationBusListener? _listener;
    private readonly TimeSpan _interval;
    private readonly ILogger _logger;
    private readonly BusSigner? _signer;
    private readonly SequenceTracker _sequences;
    private readonly ConcurrentDictionary<long, int> _copies = new();
    private readonly long _intervalMs;
    private readonly Lock _stateLock = new();
    private readonly Lock _sendLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private ITimer? _timer;
    private long _seq;
    private int _ticking;
    private int _subscribing;
    private bool _subscribed;
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
    private long _gaps;
    private long _recoveries;

    /// <summary>Creates the bus (not started: call <see cref="Start"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The heartbeat interval is not positive.</exception>
    public InvalidationBus(ISharedTierHost host, IInvalidationTransport transport, InvalidationBusOptions options)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HeartbeatInterval, TimeSpan.Zero, nameof(options));
        _host = host;
        _transport = transport;
        _listener = options.Listener;
        _interval = options.HeartbeatInterval;
        _logger = options.Logger ?? host.Logger;
        _signer = options.FrameSigningKey is { } key ? new BusSigner(key) : null;
        _intervalMs = Math.Max(1, (long)_interval.TotalMilliseconds);
        _sequences = new SequenceTracker(transport.MayReorder ? Math.Max(50, 2 * _intervalMs) : 0, forgetAfterMs: Math.Max(60_000, 100 * _intervalMs));
        _lastArrivalMs = _lastConfirmedMs = host.NowMs();
    }

    /// <summary>This node's name on the bus (random, per process): its frames carry it, and its own frames are recognised by it.</summary>
    public string SenderId { get; } = Guid.NewGuid().ToString("N")[..12];

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

    /// <summary>Send time (<see cref="ISharedTierHost.NowMs"/> scale) of the last own heartbeat that came back: this node's L1 confirmation.</summary>
    public long ConfirmedUpToMs => Volatile.Read(ref _lastConfirmedMs);

    /// <summary>Frames known lost (sequence gaps) so far.</summary>
    public long GapsDetected => Interlocked.Read(ref _gaps);

    /// <summary>Times the bus recovered from a suspect state.</summary>
    public long Recoveries => Interlocked.Read(ref _recoveries);

    /// <summary>Starts the heartbeat; the first tick subscribes (and every later one retries until that works).</summary>
    public void Start()
    {
        _transport.SubscriptionLost += OnSubscriptionLost;
        _timer = _host.TimeProvider.CreateTimer(static s => _ = ((InvalidationBus)s!).TickAsync(), this, TimeSpan.Zero, _interval);
    }

    /// <summary>
    /// Announces an invalidation (or overwrite) of <paramref name="key"/>: under the send lock, takes the next sequence
    /// number and calls <paramref name="issue"/> with the frame, which the tier publishes in the same atomic step as the write
    /// (see <see cref="IInvalidationTransport"/>). Sequence numbers thus leave in order. If <paramref name="issue"/> throws,
    /// nothing may have been published: the number is taken back (a burned number is a gap that drops every node's L1).
    /// </summary>
    public T SendInvalidation<T>(string key, Func<string, T> issue) =>
        Sequenced(seq => BusMessage.Invalidate(SenderId, seq, _host.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(), key), issue);

    /// <summary>
    /// Announces a tag bump, like <see cref="SendInvalidation{T}"/>. The frame ends with a bar: the tier appends the version
    /// the bump produced (known only once it ran, so a script appends it; it is outside the MAC and bounded by receivers).
    /// </summary>
    public T SendTagInvalidation<T>(string tag, Func<string, T> issue) => Sequenced(seq => BusMessage.TagPrefix(SenderId, seq, tag), issue);

    /// <summary>Announces a clear, like <see cref="SendTagInvalidation{T}"/> (the tier appends the clear version).</summary>
    public T SendClear<T>(Func<string, T> issue) => Sequenced(seq => BusMessage.ClearPrefix(SenderId, seq), issue);

    /// <summary>The frame announcing a fill (or a lease release) of <paramref name="key"/>: unsequenced, it only wakes waiters.</summary>
    public string FillFrame(string key) => Sign(BusMessage.Fill(key));

    private T Sequenced<T>(Func<long, string> frame, Func<string, T> issue)
    {
        ArgumentNullException.ThrowIfNull(issue);
        lock (_sendLock)
        {
            var seq = ++_seq;
            try
            {
                return issue(Sign(frame(seq)));
            }
            catch
            {
                _seq--; // nothing was published under it, and none was issued since (the lock)
                throw;
            }
        }
    }

    private string Sign(string frame) => _signer?.Sign(frame) ?? frame;

    private async Task TickAsync()
    {
        if (_disposed || Interlocked.Exchange(ref _ticking, 1) == 1)
        {
            return;
        }

        try
        {
            await TrySubscribeAsync().ConfigureAwait(false);
            var now = _host.NowMs();
            if (now - Volatile.Read(ref _lastArrivalMs) > 3 * _intervalMs + 50)
            {
                MarkSuspect("own heartbeat overdue", loss: false);
            }

            if (_sequences.Expire(now) is { } lost)
            {
                OnGap(lost.Sender, lost.Lost, now);
            }

            await PublishHeartbeatAsync(now).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the transport's failures are its own (a Redis exception, a timeout): the overdue check above turns a silent bus into a suspect one
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }

    /// <summary>Subscribes once (the transport resubscribes by itself after a loss); retried by every tick until it works.</summary>
    private async Task TrySubscribeAsync()
    {
        if (Volatile.Read(ref _subscribed) || Interlocked.Exchange(ref _subscribing, 1) == 1)
        {
            return;
        }

        try
        {
            // From here on every frame reaches this node in order; those published before did not. So nothing fetched before
            // now may ever be confirmed by a heartbeat (it is dropped, and L2 reads in flight do not fill), the tag and clear
            // versions are reloaded, and each sender's numbering starts from the transport's record, not from its first frame.
            // Frames arriving meanwhile are held by the transport until this has run.
            await _transport.SubscribeAsync(Handle, OnSubscribedAsync, _stopping.Token).ConfigureAwait(false);
            Volatile.Write(ref _subscribed, true);
        }
#pragma warning disable CA1031 // any transport failure means "not subscribed": suspect, retried next tick
        catch (Exception ex)
#pragma warning restore CA1031
        {
            MarkSuspect("cannot subscribe: " + ex.Message, loss: true);
        }
        finally
        {
            Volatile.Write(ref _subscribing, 0);
        }
    }

    private async Task OnSubscribedAsync()
    {
        IReadOnlyList<KeyValuePair<string, long>> seeds;
        try
        {
            seeds = await _transport.ReadSequencesAsync(_stopping.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // without the record, senders are tracked from their first frame (the transport logs its failure)
        catch (Exception)
#pragma warning restore CA1031
        {
            seeds = [];
        }

        foreach (var (sender, seq) in seeds)
        {
            if (sender != SenderId && seq >= 0)
            {
                _sequences.Seed(sender, seq, _host.NowMs());
            }
        }

        var now = _host.NowMs();
        Volatile.Write(ref _subscribedAtMs, now);
        ReconcileAfterPossibleLoss(now);
    }

    private async Task PublishHeartbeatAsync(long now)
    {
        var id = Interlocked.Increment(ref _heartbeatId);
        Task publication;
        lock (_sendLock)
        {
            var seq = _seq;
            _transport.RecordSequence(SenderId, seq);
            publication = _transport.PublishOrdered(copies => Sign(BusMessage.Heartbeat(SenderId, seq, now, copies, id)));
        }

        await publication.ConfigureAwait(false);
    }

    private void OnGap(string sender, long lost, long now)
    {
        Interlocked.Add(ref _gaps, lost);
        var dropped = ReconcileAfterPossibleLoss(now);
        BusLog.SequenceGap(_logger, sender, lost, dropped);
    }

    /// <summary>
    /// Frames may have been missed before <paramref name="before"/> (a gap, an outage, a new subscription): the tier reloads
    /// the tag and clear versions before anything is judged with them again (a lost frame may have been one of those), then
    /// every L1 entry fetched earlier is dropped. The one rule for all three cases. Returns how many entries were dropped.
    /// </summary>
    private int ReconcileAfterPossibleLoss(long before)
    {
        _listener?.OnPossibleLoss();
        return _host.DropLocalEntriesFetchedBefore(before);
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

        BusLog.BusSuspect(_logger, reason);
    }

    private void OnSubscriptionLost(string reason)
    {
        // Frames published while the subscription is down are lost for good; sequence numbers restart from scratch.
        _sequences.Reset();
        MarkSuspect(reason, loss: true);
    }

    /// <summary>Stops the heartbeat and unsubscribes.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _transport.SubscriptionLost -= OnSubscriptionLost;
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _subscribed))
        {
            try
            {
                await _transport.UnsubscribeAsync(CancellationToken.None).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // closing anyway
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        _stopping.Dispose();
    }
}
