using System.Collections.Concurrent;
using Coherent.Redis.Resilience;
using Coherent.Redis.Storage;
using Coherent.SharedTier;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>Writes: each changes L2, bumps an epoch or version and publishes on the bus in one script; failures are retried.</summary>
internal sealed partial class RedisTier
{
    private readonly ConcurrentDictionary<string, PendingWrite> _pending = new(StringComparer.Ordinal);
    private readonly Lock _queueLock = new();
    private long _collapses;
    private ITimer? _retryTimer;
    private int _retrying;

    public long PendingInvalidations => _pending.Count;

    /// <summary>Times the bounded queue overflowed into a clear of the whole cache (tests and diagnostics).</summary>
    internal long QueueCollapses => Interlocked.Read(ref _collapses);

    public async ValueTask<long> SetAsync(SharedTierKey sharedKey, SharedTierEntry entry, CancellationToken cancellationToken)
    {
        var key = sharedKey.Key;
        var versioned = IsVersioned(sharedKey);
        var ttl = TtlMs(entry);
        long epoch;
        SharedTierEnvelopeData data;
        try
        {
            _options.BeforeWrite?.Invoke(key); // inside the try: a fault it injects fails the write like a real one
            ThrowIfOpen();

            // Inside the try: stamping a tag this node has not seen reads its version from Redis, and that read failing is a
            // failed write like any other (queued and retried), never a raw Redis exception with nothing queued.
            data = await EnvelopeDataAsync(key, entry, entry.Epoch, cancellationToken).ConfigureAwait(false);
            epoch = (long)await CallAsync(SendSet(key, versioned, SharedTierEnvelope.Write(key, data, _signingKey), ttl), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not PayloadTooLargeException && (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
        {
            // The new value did not land: other nodes must at least drop the old one, so an invalidation is retried.
            throw Queue(PendingWrite.ForKey(key, versioned), ex);
        }
        catch (OperationCanceledException)
        {
            Requeue(PendingWrite.ForKey(key, versioned));
            throw;
        }

        if (_signingKey is not null)
        {
            await RestampAsync(key, versioned, data with { Epoch = epoch }, ttl, cancellationToken).ConfigureAwait(false);
        }

        return epoch;
    }

    /// <summary>
    /// Signed reads refuse an envelope older than its key's epoch (a captured one written back), and the write-through's
    /// envelope carries the writer's older epoch (the script bumps it after the MAC was made): store it again with the epoch
    /// the write made, fenced on that epoch, so it stays an L2 hit. Until this lands readers miss and recompute; a failure
    /// here only costs that (the write itself landed).
    /// </summary>
    private async ValueTask RestampAsync(string key, bool versioned, SharedTierEnvelopeData data, long ttl, CancellationToken cancellationToken)
    {
        RedisKey[] keys = [versioned ? _keys.Pointer(key) : _keys.Data(key), _keys.Epoch(key), _keys.Lease(key)];
        RedisValue[] args = [data.Epoch, SharedTierEnvelope.Write(key, data, _signingKey), ttl, "", _keys.Channel.ToString(), StartedBus.FillFrame(key), versioned ? _keys.VersionBase(key) : ""];
        try
        {
            await CallAsync(_db.ScriptEvaluateAsync(Scripts.Store, keys, args), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            RedisLog.ReadFailed(_logger, key + " (restamp after write)", ex);
        }
    }

    public async ValueTask InvalidateAsync(SharedTierKey sharedKey, CancellationToken cancellationToken)
    {
        var key = sharedKey.Key;
        var versioned = IsVersioned(sharedKey);
        try
        {
            _options.BeforeWrite?.Invoke(key); // inside the try: a fault it injects fails the write like a real one
            ThrowIfOpen();
            await CallAsync(SendInvalidate(key, versioned), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Queue(PendingWrite.ForKey(key, versioned), ex);
        }
        catch (OperationCanceledException)
        {
            Requeue(PendingWrite.ForKey(key, versioned));
            throw;
        }
    }

    public async ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        try
        {
            ThrowIfOpen();
            var version = await CallAsync(SendTagBump(tag), cancellationToken).ConfigureAwait(false);
            await AfterBumpLandedAsync().ConfigureAwait(false);
            ObserveTagVersion(tag, (long)version);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Queue(PendingWrite.ForTag(tag), ex);
        }
        catch (OperationCanceledException)
        {
            Requeue(PendingWrite.ForTag(tag));
            throw;
        }
    }

    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        try
        {
            ThrowIfOpen();
            var version = await CallAsync(SendClearBump(), cancellationToken).ConfigureAwait(false);
            await AfterBumpLandedAsync().ConfigureAwait(false);
            ObserveClearVersion((long)version);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Queue(PendingWrite.ForClear(), ex);
        }
        catch (OperationCanceledException)
        {
            Requeue(PendingWrite.ForClear());
            throw;
        }
    }

    private Task<RedisResult> SendSet(string key, bool versioned, byte[] envelope, long ttl)
    {
        RedisKey[] keys = [versioned ? _keys.Pointer(key) : _keys.Data(key), _keys.Epoch(key), _keys.Lease(key)];
        return StartedBus.SendInvalidation(key, frame => Evaluate(Scripts.Set, keys,
            [envelope, ttl, _keys.Channel.ToString(), frame, (long)_options.EpochRetention.TotalMilliseconds,
             versioned ? _keys.VersionBase(key) : "", (long)_options.OldVersionGrace.TotalMilliseconds, EpochFloor()]));
    }

    private Task<RedisResult> SendInvalidate(string key, bool versioned)
    {
        RedisKey[] keys = [versioned ? _keys.Pointer(key) : _keys.Data(key), _keys.Epoch(key), _keys.Lease(key)];
        return StartedBus.SendInvalidation(key, frame => Evaluate(Scripts.Invalidate, keys,
            [(long)_options.EpochRetention.TotalMilliseconds, _keys.Channel.ToString(), frame,
             versioned ? _keys.VersionBase(key) : "", (long)_options.OldVersionGrace.TotalMilliseconds, EpochFloor()]));
    }

    private Task<RedisResult> SendTagBump(string tag) => StartedBus.SendTagInvalidation(tag, frame => Bump(_keys.Tag(tag), KnownTagVersion(tag), frame));

    private Task<RedisResult> SendClearBump() => StartedBus.SendClear(frame => Bump(_keys.ClearKey, Volatile.Read(ref _clearVersion), frame));

    /// <summary>
    /// Bumps a tag or clear version, never below <paramref name="floor"/> (what this node has seen: Redis may have lost the key),
    /// and publishes <paramref name="frame"/> with the new version appended.
    /// </summary>
    private Task<RedisResult> Bump(RedisKey versionKey, long floor, string frame) =>
        Evaluate(Scripts.Bump, [versionKey], [_keys.Channel.ToString(), frame, floor, EpochFloor()]);

    /// <summary>
    /// Where an epoch or a tag/clear version restarts when Redis lost it (or it never existed): this node's time in Unix ms ×
    /// 1000, above every number issued before the loss while keys see fewer than 1,000 bumps a millisecond, and within the
    /// 2^53 that Lua counts exactly. Fences and stamps taken before a loss can then never match what follows it.
    /// </summary>
    private long EpochFloor() => Host.NowMs() * 1000;

    private long EpochRetentionMs => (long)_options.EpochRetention.TotalMilliseconds;

    private Task AfterBumpLandedAsync() => _options.AfterVersionBumpLanded?.Invoke() ?? Task.CompletedTask;

    internal long KnownTagVersion(string tag) => _tagVersions.TryGetValue(tag, out var known) ? known : 0;

    private void ThrowIfOpen()
    {
        if (_breaker.IsOpen)
        {
            throw new CircuitOpenException();
        }
    }

    private InvalidationFailedException Queue(PendingWrite write, Exception cause)
    {
        var collapsed = Enqueue(write);
        RedisLog.InvalidationQueued(_logger, write.Target, cause);
        return new InvalidationFailedException(collapsed
            ? $"The invalidation of {write.Target} could not be applied to Redis ({cause.Message}), and {_options.MaxPendingInvalidations} invalidations " +
              "were already waiting: every queued key and tag invalidation was collapsed into one clear of the whole cache, retried in the background " +
              "until it lands (every entry is then recomputed once); until then other nodes may serve old values up to their family's Ttl."
            : $"The invalidation of {write.Target} could not be applied to Redis ({cause.Message}). It is retried in the background until it lands; " +
              "until then other nodes may serve the old value up to the family's Ttl.", cause);
    }

    /// <summary>
    /// The caller cancelled while the write was on its way: it may or may not land (with Redis unreachable the bytes in flight
    /// can be lost), so it is retried like a failed one and never silently dropped. A retry of one that did land is one extra
    /// invalidation: harmless.
    /// </summary>
    private void Requeue(PendingWrite write) => Enqueue(write);

    /// <summary>
    /// Queues <paramref name="write"/> (replacing an older one for the same target: a retry in flight then does not remove the
    /// newer). Bounded: when it would not fit, every key and tag write is dropped for one clear of the whole cache, which voids
    /// all they would have voided. Returns true when it collapsed the queue.
    /// </summary>
    private bool Enqueue(PendingWrite write)
    {
        int dropped;
        lock (_queueLock)
        {
            if (_pending.ContainsKey(write.Target) || _pending.Count < _options.MaxPendingInvalidations)
            {
                _pending[write.Target] = write;
                return false;
            }

            dropped = 0;
            foreach (var target in _pending.Keys)
            {
                if (_pending.TryRemove(target, out var removed) && removed.Kind != PendingKind.Clear)
                {
                    dropped++;
                }
            }

            // Always a new clear, even if one was queued: one already in flight may have run before the writes it now replaces.
            var clear = PendingWrite.ForClear();
            _pending[clear.Target] = clear;
        }

        _queueCollapses.Add(1, new KeyValuePair<string, object?>("coherent.cache", CacheName));
        Interlocked.Increment(ref _collapses);
        RedisLog.QueueCollapsed(_logger, _options.MaxPendingInvalidations, dropped + 1);
        return true;
    }

    private void StartRetries() =>
        _retryTimer = _time.CreateTimer(static s => _ = ((RedisTier)s!).RetryPendingAsync(), this, _options.RetryInterval, _options.RetryInterval);

    private async Task StopRetriesAsync()
    {
        if (_retryTimer is not null)
        {
            await _retryTimer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Sends one queued write: each lands with a fresh sequence number and its own publication.</summary>
    private Task<RedisResult> Send(PendingWrite write) => write.Kind switch
    {
        PendingKind.Key => SendInvalidate(write.Name, write.Versioned),
        PendingKind.Tag => SendTagBump(write.Name),
        _ => SendClearBump(),
    };

    /// <summary>
    /// Retries queued invalidations. A write the server refuses (an ACL, a poisoned value, a cross-slot key) backs off on its
    /// own and never holds up the others; a failure to reach the server ends the round (the next tick tries again).
    /// </summary>
    internal async Task RetryPendingAsync()
    {
        if (_pending.IsEmpty || _breaker.IsOpen || Interlocked.Exchange(ref _retrying, 1) == 1)
        {
            return;
        }

        try
        {
            var now = _time.GetTimestamp();
            foreach (var (target, write) in _pending)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                if (write.NotBefore > now)
                {
                    continue; // refused recently: backing off
                }

                write.Attempts++;
                try
                {
                    await CallAsync(Send(write), _stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsRefusal(ex))
                {
                    var delay = Backoff(write.Attempts);
                    write.NotBefore = now + (long)(delay.TotalSeconds * _time.TimestampFrequency);
                    RedisLog.InvalidationRefused(_logger, target, write.Attempts, delay, ex.Message);
                    continue;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    return; // still down; the next tick tries again
                }

                _pending.TryRemove(new KeyValuePair<string, PendingWrite>(target, write));

                // This node ignores its own bus messages, yet while the invalidation was pending it may have refilled its L1
                // from the old L2 copy: drop it now, as every other node does on the message.
                switch (write.Kind)
                {
                    case PendingKind.Key:
                        Host.OnRemoteInvalidated(write.Name);
                        break;
                    case PendingKind.Tag:
                        Host.OnRemoteTagInvalidated(write.Name);
                        break;
                    default:
                        Host.OnRemoteCleared();
                        break;
                }

                RedisLog.InvalidationLanded(_logger, target, write.Attempts);
            }
        }
        catch (OperationCanceledException)
        {
            // disposing
        }
        finally
        {
            Volatile.Write(ref _retrying, 0);
        }
    }
}
