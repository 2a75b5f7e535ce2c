using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Coherent.Memcached;

/// <summary>
/// Invalidations that did not reach Memcached, retried every <see cref="CoherentMemcachedOptions.RetryInterval"/> until they
/// land, as on Redis: bounded (past <see cref="CoherentMemcachedOptions.MaxPendingInvalidations"/> the queue collapses into one
/// clear, which voids all it held), a newer write for the same target replacing an older one, and one last attempt at disposal.
/// </summary>
internal sealed partial class MemcachedTier
{
    private readonly ConcurrentDictionary<string, PendingWrite> _pending = new(StringComparer.Ordinal);
    private readonly object _queueLock = new();
    private readonly Counter<long> _queueCollapses;
    private ITimer? _retryTimer;
    private int _retrying;

    public long PendingInvalidations => _pending.Count;

    private InvalidationFailedException Queue(PendingWrite write, Exception cause)
    {
        var collapsed = Enqueue(write);
        MemcachedLog.InvalidationQueued(_logger, write.Target, cause);
        return new InvalidationFailedException(collapsed
            ? $"The invalidation of {write.Target} could not be applied to Memcached ({cause.Message}), and {_options.MaxPendingInvalidations} invalidations " +
              "were already waiting: they were collapsed into one clear of the whole cache, retried in the background until it lands; until then " +
              "other nodes may serve old values up to their family's Ttl."
            : $"The invalidation of {write.Target} could not be applied to Memcached ({cause.Message}). It is retried in the background until it lands; " +
              "until then other nodes may serve the old value up to the family's Ttl.", cause);
    }

    /// <summary>Queues <paramref name="write"/>; true when the queue was full and collapsed into one clear.</summary>
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

            dropped = _pending.Count;
            _pending.Clear();
            var clear = PendingWrite.ForClear(); // always a new one: one in flight may have run before the writes it replaces
            _pending[clear.Target] = clear;
        }

        _queueCollapses.Add(1, new KeyValuePair<string, object?>("coherent.cache", CacheName));
        MemcachedLog.QueueCollapsed(_logger, _options.MaxPendingInvalidations, dropped + 1);
        return true;
    }

    private void StartRetries() =>
        _retryTimer = _time.CreateTimer(static s => _ = ((MemcachedTier)s!).RetryPendingAsync(), this, _options.RetryInterval, _options.RetryInterval);

    private async Task StopRetriesAsync()
    {
        if (_retryTimer is not null)
        {
            await _retryTimer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Retries the queue once; a failure to reach the servers ends the round (the next tick tries again).</summary>
    internal async Task RetryPendingAsync()
    {
        if (_pending.IsEmpty || Interlocked.Exchange(ref _retrying, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (var (target, write) in _pending)
            {
                write.Attempts++;
                try
                {
                    await SendAsync(write, _stopping.Token).ConfigureAwait(false);
                }
                catch (MemcachedException ex) when (!ex.IsConnectivityFailure)
                {
                    continue; // refused by a live server (this one write): the others must not wait behind it
                }
                catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
                {
                    return; // unreachable: the next tick tries again
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Cannot ever be sent (a name the protocol cannot carry): dropped, and said so.
                    _pending.TryRemove(new KeyValuePair<string, PendingWrite>(target, write));
                    MemcachedLog.InvalidationUndelivered(_logger, target, ex.Message);
                    continue;
                }

                _pending.TryRemove(new KeyValuePair<string, PendingWrite>(target, write));

                // While it was pending this node may have refilled its L1 from the old L2 value: drop it now.
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

                MemcachedLog.InvalidationLanded(_logger, target, write.Attempts);
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

    /// <summary>Disposal: one attempt at every queued write, bounded by the operation timeout each; each that did not land is logged.</summary>
    private async Task FlushPendingAsync()
    {
        foreach (var (target, write) in _pending.ToArray())
        {
            try
            {
                using var timeout = new CancellationTokenSource(_options.OperationTimeout, _time);
                await SendAsync(write, timeout.Token).ConfigureAwait(false);
                _pending.TryRemove(target, out _);
            }
            catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException or OperationCanceledException)
            {
                MemcachedLog.InvalidationUndelivered(_logger, target, ex.Message);
            }
        }
    }
}

internal enum PendingKind
{
    Key,
    Tag,
    Clear,
}

/// <summary>An invalidation waiting to be applied to Memcached.</summary>
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

    /// <summary>Retry rounds that tried it (read and written by the one retry loop).</summary>
    public int Attempts { get; set; }

    public static PendingWrite ForClear() => new(PendingKind.Clear, "");

    public static PendingWrite ForKey(string key) => new(PendingKind.Key, key);

    public static PendingWrite ForTag(string tag) => new(PendingKind.Tag, tag);
}
