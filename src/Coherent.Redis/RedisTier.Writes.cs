using System.Collections.Concurrent;
using Coherent.Redis.Resilience;
using Coherent.Redis.Storage;
using Coherent.SharedTier;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>Writes: each changes L2, bumps an epoch or version and publishes on the bus in one script; failures are retried.</summary>
internal sealed partial class RedisTier
{
    private InvalidationRetryQueue? _retries;

    public long PendingInvalidations => _retries?.Count ?? 0;

    /// <summary>Times the bounded queue overflowed into a clear of the whole cache (tests and diagnostics).</summary>
    internal long QueueCollapses => _retries?.Collapses ?? 0;

    private InvalidationRetryQueue Retries => _retries ?? throw new InvalidOperationException("The tier is not started.");

    /// <summary>The core's retry queue (one home for queuing, collapsing, backoff and the last flush), sending through this tier.</summary>
    private InvalidationRetryQueue CreateRetryQueue(ISharedTierHost host)
    {
        var queue = new InvalidationRetryQueue(
            new InvalidationRetrySettings("Redis", _options.MaxPendingInvalidations, _options.RetryInterval, _options.OperationTimeout,
                (write, ct) => CallAsync(Send(write), ct),
                static ex => IsRefusal(ex) ? InvalidationSendFailure.Refused : InvalidationSendFailure.Unreachable,
                () => !_breaker.IsOpen),
            host, _logger);
        queue.Collapsed += () => _queueCollapses.Add(1, new KeyValuePair<string, object?>("coherent.cache", CacheName));
        return queue;
    }

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
            throw Retries.Queue(PendingInvalidation.ForKey(key, versioned), ex);
        }
        catch (OperationCanceledException)
        {
            Retries.Requeue(PendingInvalidation.ForKey(key, versioned));
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
        FillArgs[] fill = [FillArgsFor(key, versioned, data.Epoch, SharedTierEnvelope.Write(key, data, _signingKey), ttl, leaseToken: null)];
        try
        {
            await CallAsync(SendFills(fill, [0]), cancellationToken).ConfigureAwait(false);
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
            throw Retries.Queue(PendingInvalidation.ForKey(key, versioned), ex);
        }
        catch (OperationCanceledException)
        {
            Retries.Requeue(PendingInvalidation.ForKey(key, versioned));
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
            throw Retries.Queue(PendingInvalidation.ForTag(tag), ex);
        }
        catch (OperationCanceledException)
        {
            Retries.Requeue(PendingInvalidation.ForTag(tag));
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
            throw Retries.Queue(PendingInvalidation.ForClear(), ex);
        }
        catch (OperationCanceledException)
        {
            Retries.Requeue(PendingInvalidation.ForClear());
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

    /// <summary>
    /// A tag bump, after the fleet's count of tag invalidations moved: a fill that sees the new version and then reads the
    /// count sees it moved (its own key: a tag's version key may be in another cluster slot). A count left moved by a bump
    /// that then failed costs a fill with factory-added tags its shared store, nothing more.
    /// </summary>
    private async Task<RedisResult> SendTagBump(string tag)
    {
        await _db.StringIncrementAsync(_keys.TagBumps).ConfigureAwait(false);
        return await StartedBus.SendTagInvalidation(tag, frame => Bump(_keys.Tag(tag), KnownTagVersion(tag), frame)).ConfigureAwait(false);
    }

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

    /// <summary>Sends one queued write: each lands with a fresh sequence number and its own publication.</summary>
    private Task<RedisResult> Send(PendingInvalidation write) => write.Kind switch
    {
        PendingInvalidationKind.Key => SendInvalidate(write.Name, write.State is true),
        PendingInvalidationKind.Tag => SendTagBump(write.Name),
        _ => SendClearBump(),
    };
}
