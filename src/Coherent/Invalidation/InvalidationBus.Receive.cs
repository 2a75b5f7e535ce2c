using System.Globalization;
using Coherent.Invalidation;

namespace Coherent.SharedTier;

/// <summary>The bus's incoming side: each frame checked, parsed and applied; the node's own heartbeat confirms its L1.</summary>
public sealed partial class InvalidationBus
{
    /// <summary>Own multi-route heartbeats whose copies are still awaited, at most (older ones are given up).</summary>
    private const long MaxHeartbeatsInFlight = 16;

    /// <summary>Multi-route heartbeats whose copies are still being counted (tests).</summary>
    internal int HeartbeatsAwaitingCopies => _copies.Count;

    /// <summary>Handles one frame from the transport (one at a time).</summary>
    private void Handle(string received)
    {
        var text = received;
        try
        {
            if (!TryOpen(received, out text))
            {
                return;
            }

            if (text.StartsWith("F|", StringComparison.Ordinal))
            {
                _listener?.OnFilled(text[2..]);
                return;
            }

            if (!BusMessage.TryParse(text, out var kind, out var sender, out var number, out var rest))
            {
                BusLog.BadMessage(_logger, text, null);
                return;
            }

            // An invalidation's L1 removal is what the propagation delay measures: nothing but parsing comes before it.
            var self = sender == SenderId;
            if (!self && kind != 'H' && _sequences.IsDuplicate(sender, number))
            {
                _listener?.OnFrameRejected("replayed", text); // a copy of a frame already handled (or declared lost): never acted on twice
                return;
            }

            long now;
            switch (kind)
            {
                case 'I' when BusMessage.TrySplitFirst(text, rest, out var sentAt, out var key):
                    if (!self)
                    {
                        _host.OnRemoteInvalidated(key);
                        _host.RecordInvalidationLag(key, _host.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds() - sentAt);
                    }

                    // An invalidation voids the key's lease with its entry: whoever waits for that lease's fill reads again
                    // now (its holder, fenced, may give the lease back without a notice, or store nothing).
                    _listener?.OnFilled(key);
                    break;
                // The tier learns the new version before local versions move: an L2 read the tier judged with the old version
                // then always sees the local bump land after its start, and does not fill L1 (fills are stamped with the
                // versions captured before their factory ran, so this order is safe for them too).
                case 'T' when BusMessage.TrySplitLast(text, rest, out var tag, out var version):
                    _listener?.OnTagVersion(tag, version, text);
                    if (!self)
                    {
                        _host.OnRemoteTagInvalidated(tag);
                    }

                    break;
                case 'C' when long.TryParse(text.AsSpan(rest), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var clear):
                    _listener?.OnClearVersion(clear, text);
                    if (!self)
                    {
                        _host.OnRemoteCleared();
                    }

                    break;
                case 'H':
                    now = _host.NowMs();
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
                    BusLog.BadMessage(_logger, text, null);
                    return;
            }

            if (!self)
            {
                now = _host.NowMs();
                if (_sequences.OnMessage(sender, number, now) is > 0 and var lost)
                {
                    OnGap(sender, lost, now);
                }
            }
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            BusLog.BadMessage(_logger, text, ex);
        }
    }

    /// <summary>Opens a received frame: with a signing key only a valid MAC passes (anything else is refused and reported).</summary>
    private bool TryOpen(string text, out string frame)
    {
        if (_signer is null)
        {
            frame = BusSigner.Strip(text);
            return true;
        }

        if (_signer.TryOpen(text, out frame))
        {
            return true;
        }

        _listener?.OnFrameRejected("unsigned", text);
        return false;
    }

    private void OnOwnHeartbeat(string rest, long now)
    {
        // rest = sentAtMs|copies|id
        var parts = rest.Split('|');
        if (parts.Length != 3 || !long.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var sentAt)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var copies)
            || !long.TryParse(parts[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var id))
        {
            return;
        }

        // This node's own send time and id: one from the future (or an id never sent) is forged, and would confirm L1 past now.
        if (sentAt > now + FutureToleranceMs || id > Interlocked.Read(ref _heartbeatId))
        {
            _listener?.OnFrameRejected("future_heartbeat", rest);
            return;
        }

        // An earlier heartbeat of ours again (a multi-route heartbeat's copies share an id): it would end a suspect state it proves nothing about.
        if (copies > 1 ? id < Volatile.Read(ref _lastOwnHeartbeatId) : id <= Volatile.Read(ref _lastOwnHeartbeatId))
        {
            _listener?.OnFrameRejected("replayed", rest);
            return;
        }

        Volatile.Write(ref _lastOwnHeartbeatId, id);

        if (copies > 1)
        {
            // A heartbeat whose copies never all come back (a route lost for good) is given up after a few newer ones,
            // whether or not a later one completes: the count must not grow by one a tick for the process's life.
            foreach (var stale in _copies.Keys.Where(k => k < id - MaxHeartbeatsInFlight))
            {
                _copies.TryRemove(stale, out _);
            }

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
            var dropped = ReconcileAfterPossibleLoss(loss ? now : outageStart);
            Interlocked.Increment(ref _recoveries);
            BusLog.BusRecovered(_logger, now - outageStart, dropped);
        }

        // A heartbeat sent before the subscription was set up proves nothing about the frames published before it. (One sent
        // in the very millisecond of the subscription does: on a fake clock every heartbeat may be.)
        if (!_sequences.AnyMissing && sentAt >= Volatile.Read(ref _subscribedAtMs))
        {
            Volatile.Write(ref _readySinceSubscribe, true);
            if (sentAt > Volatile.Read(ref _lastConfirmedMs))
            {
                Volatile.Write(ref _lastConfirmedMs, sentAt);
                _host.SetConfirmedUpTo(sentAt);
            }
        }
    }
}
