using System.Collections.Concurrent;
using Coherent.Redis.Bus;
using Coherent.Redis.Resilience;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>Writes: each changes L2, bumps an epoch or version and publishes on the bus in one script; failures are retried.</summary>
internal sealed partial class RedisTier
{
    private readonly ConcurrentDictionary<string, PendingWrite> _pending = new(StringComparer.Ordinal);
    private ITimer? _retryTimer;
    private int _retrying;

    public long PendingCount => _pending.Count;

    public async ValueTask<long> SetAsync(string key, Distributed.DistributedEntry entry, CancellationToken cancellationToken)
    {
        _options.BeforeWrite?.Invoke(key);
        var ttl = TtlMs(entry);
        try
        {
            ThrowIfOpen();

            // Inside the try: stamping a tag this node has not seen reads its version from Redis, and that read failing is a
            // failed write like any other (queued and retried), never a raw Redis exception with nothing queued.
            var envelope = await BuildEnvelopeAsync(key, entry, entry.Epoch, cancellationToken).ConfigureAwait(false);
            var result = await CallAsync(SendSet(key, envelope, ttl), cancellationToken).ConfigureAwait(false);
            return (long)result;
        }
        catch (Exception ex) when (ex is not PayloadTooLargeException && (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
        {
            // The new value did not land: other nodes must at least drop the old one, so an invalidation is retried.
            throw Queue(PendingWrite.ForKey(key), ex);
        }
        catch (OperationCanceledException)
        {
            Requeue(PendingWrite.ForKey(key));
            throw;
        }
    }

    public async ValueTask InvalidateAsync(string key, CancellationToken cancellationToken)
    {
        _options.BeforeWrite?.Invoke(key);
        try
        {
            ThrowIfOpen();
            await CallAsync(SendInvalidate(key), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Queue(PendingWrite.ForKey(key), ex);
        }
        catch (OperationCanceledException)
        {
            Requeue(PendingWrite.ForKey(key));
            throw;
        }
    }

    public async ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        try
        {
            ThrowIfOpen();
            var version = await CallAsync(SendBump(_keys.Tag(tag), KnownTagVersion(tag), seq => BusMessage.TagPrefix(_sender, seq, tag)), cancellationToken).ConfigureAwait(false);
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
            var version = await CallAsync(SendBump(_keys.ClearKey, Volatile.Read(ref _clearVersion), seq => BusMessage.ClearPrefix(_sender, seq)), cancellationToken).ConfigureAwait(false);
            await AfterBumpLandedAsync().ConfigureAwait(false);
            ObserveClearVersion((long)version);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Queue(PendingWrite.Clear, ex);
        }
        catch (OperationCanceledException)
        {
            Requeue(PendingWrite.Clear);
            throw;
        }
    }

    private Task<RedisResult> SendSet(string key, byte[] envelope, long ttl)
    {
        var versioned = IsVersionedKey(key);
        RedisKey[] keys = [versioned ? _keys.Pointer(key) : _keys.Data(key), _keys.Epoch(key), _keys.Lease(key)];
        return SendSequenced(Scripts.Set, keys, seq =>
            [envelope, ttl, _keys.Channel.ToString(), BusMessage.Invalidate(_sender, seq, _time.GetUtcNow().ToUnixTimeMilliseconds(), key), (long)_options.EpochRetention.TotalMilliseconds,
             versioned ? _keys.VersionBase(key) : "", (long)_options.OldVersionGrace.TotalMilliseconds]);
    }

    private Task<RedisResult> SendInvalidate(string key)
    {
        var versioned = IsVersionedKey(key);
        RedisKey[] keys = [versioned ? _keys.Pointer(key) : _keys.Data(key), _keys.Epoch(key), _keys.Lease(key)];
        return SendSequenced(Scripts.Invalidate, keys, seq =>
            [(long)_options.EpochRetention.TotalMilliseconds, _keys.Channel.ToString(), BusMessage.Invalidate(_sender, seq, _time.GetUtcNow().ToUnixTimeMilliseconds(), key),
             versioned ? _keys.VersionBase(key) : "", (long)_options.OldVersionGrace.TotalMilliseconds]);
    }

    /// <summary>Bumps a tag or clear version, never below <paramref name="floor"/> (what this node has seen: Redis may have lost the key).</summary>
    private Task<RedisResult> SendBump(RedisKey versionKey, long floor, Func<long, string> message) =>
        SendSequenced(Scripts.Bump, [versionKey], seq => [_keys.Channel.ToString(), message(seq), floor]);

    private Task AfterBumpLandedAsync() => _options.AfterVersionBumpLanded?.Invoke() ?? Task.CompletedTask;

    private long KnownTagVersion(string tag) => _tagVersions.TryGetValue(tag, out var known) ? known : 0;

    private void ThrowIfOpen()
    {
        if (_breaker.IsOpen)
        {
            throw new CircuitOpenException();
        }
    }

    private InvalidationFailedException Queue(PendingWrite write, Exception cause)
    {
        _pending[write.Target] = write;
        RedisLog.InvalidationQueued(_logger, write.Target, cause);
        return new InvalidationFailedException(
            $"The invalidation of {write.Target} could not be applied to Redis ({cause.Message}). It is retried in the background until it lands; " +
            "until then other nodes may serve the old value up to the family's Ttl.", cause);
    }

    /// <summary>
    /// The caller cancelled while the write was on its way: it may or may not land (with Redis unreachable the bytes in flight
    /// can be lost), so it is retried like a failed one and never silently dropped. A retry of one that did land is one extra
    /// invalidation: harmless.
    /// </summary>
    private void Requeue(PendingWrite write) => _pending[write.Target] = write;

    private void StartRetries() =>
        _retryTimer = _time.CreateTimer(static s => _ = ((RedisTier)s!).RetryPendingAsync(), this, _options.RetryInterval, _options.RetryInterval);

    private async Task StopRetriesAsync()
    {
        if (_retryTimer is not null)
        {
            await _retryTimer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Retries queued invalidations; each lands with a fresh sequence number and its own publication.</summary>
    internal async Task RetryPendingAsync()
    {
        if (_pending.IsEmpty || _breaker.IsOpen || Interlocked.Exchange(ref _retrying, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (var (target, write) in _pending)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                write.Attempts++;
                try
                {
                    var call = write.Kind switch
                    {
                        PendingKind.Key => SendInvalidate(write.Name),
                        PendingKind.Tag => SendBump(_keys.Tag(write.Name), KnownTagVersion(write.Name), seq => BusMessage.TagPrefix(_sender, seq, write.Name)),
                        _ => SendBump(_keys.ClearKey, Volatile.Read(ref _clearVersion), seq => BusMessage.ClearPrefix(_sender, seq)),
                    };
                    await CallAsync(call, _stopping.Token).ConfigureAwait(false);
                    _pending.TryRemove(new KeyValuePair<string, PendingWrite>(target, write));

                    // This node ignores its own bus messages, yet while the invalidation was pending it may have refilled its L1
                    // from the old L2 copy: drop it now, as every other node does on the message.
                    switch (write.Kind)
                    {
                        case PendingKind.Key:
                            Owner.OnRemoteInvalidated(write.Name);
                            break;
                        case PendingKind.Tag:
                            Owner.OnRemoteTagInvalidated(write.Name);
                            break;
                        default:
                            Owner.OnRemoteCleared();
                            break;
                    }

                    RedisLog.InvalidationLanded(_logger, target, write.Attempts);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    return; // still down; the next tick tries again
                }
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

internal enum PendingKind
{
    Key,
    Tag,
    Clear,
}

/// <summary>An invalidation waiting to be applied to Redis.</summary>
internal sealed class PendingWrite(PendingKind kind, string name)
{
    public PendingKind Kind { get; } = kind;

    public string Name { get; } = name;

    public string Target => Kind switch
    {
        PendingKind.Key => "key " + Name,
        PendingKind.Tag => "tag " + Name,
        _ => "the whole cache",
    };

    public int Attempts { get; set; }

    public static PendingWrite Clear { get; } = new(PendingKind.Clear, "");

    public static PendingWrite ForKey(string key) => new(PendingKind.Key, key);

    public static PendingWrite ForTag(string tag) => new(PendingKind.Tag, tag);
}
