using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Coherent.SharedTier;

/// <summary>What a queued invalidation voids.</summary>
public enum PendingInvalidationKind
{
    /// <summary>One key.</summary>
    Key,

    /// <summary>Every entry carrying a tag.</summary>
    Tag,

    /// <summary>The whole cache.</summary>
    Clear,
}

/// <summary>An invalidation waiting to be applied to a backend. A new instance each time: the queue removes a write only if it is still the same instance.</summary>
public sealed class PendingInvalidation
{
    private PendingInvalidation(PendingInvalidationKind kind, string name, object? state)
    {
        Kind = kind;
        Name = name;
        State = state;
    }

    /// <summary>What it voids.</summary>
    public PendingInvalidationKind Kind { get; }

    /// <summary>The key or tag ("" for a clear).</summary>
    public string Name { get; }

    /// <summary>What the backend needs to send it again, decided when it was made (e.g. whether the key's family is versioned).</summary>
    public object? State { get; }

    /// <summary>"key …", "tag …" or "the whole cache": one queued write per target.</summary>
    public string Target => Kind switch
    {
        PendingInvalidationKind.Key => "key " + Name,
        PendingInvalidationKind.Tag => "tag " + Name,
        _ => "the whole cache",
    };

    /// <summary>Retry rounds that tried it.</summary>
    public int Attempts { get; internal set; }

    /// <summary>Timestamp (the queue's TimeProvider) before which retries skip it: set after the backend refused it.</summary>
    internal long NotBefore { get; set; }

    /// <summary>An invalidation of <paramref name="key"/>.</summary>
    public static PendingInvalidation ForKey(string key, object? state = null) => new(PendingInvalidationKind.Key, key, state);

    /// <summary>An invalidation of <paramref name="tag"/>.</summary>
    public static PendingInvalidation ForTag(string tag) => new(PendingInvalidationKind.Tag, tag, null);

    /// <summary>A clear of the whole cache.</summary>
    public static PendingInvalidation ForClear() => new(PendingInvalidationKind.Clear, "", null);
}

/// <summary>How a backend's attempt to send an invalidation failed, as the retry queue acts on it.</summary>
public enum InvalidationSendFailure
{
    /// <summary>The backend could not be reached: the round ends, the next one tries again.</summary>
    Unreachable,

    /// <summary>A live backend refused this one write (an ACL, a poisoned value): it backs off on its own, never holding up the others.</summary>
    Refused,

    /// <summary>It can never be sent (a name the protocol cannot carry): dropped, and logged.</summary>
    Undeliverable,
}

/// <summary>What a backend gives its retry queue.</summary>
/// <param name="backend">The backend's name in log messages ("Redis", "Memcached").</param>
/// <param name="maxPending">Past this many queued writes the queue collapses into one clear of the whole cache.</param>
/// <param name="retryInterval">How often a round runs; a refused write backs off from it, doubling, up to a minute.</param>
/// <param name="operationTimeout">The bound of the last attempt at disposal, for all writes together.</param>
/// <param name="send">Sends one write; throws when it did not land.</param>
/// <param name="classify">What a failure of <paramref name="send"/> means.</param>
/// <param name="canTry">False while a round would be pointless (e.g. the backend's circuit breaker is open); null: always.</param>
public sealed class InvalidationRetrySettings(string backend, int maxPending, TimeSpan retryInterval, TimeSpan operationTimeout,
    Func<PendingInvalidation, CancellationToken, Task> send, Func<Exception, InvalidationSendFailure> classify, Func<bool>? canTry = null)
{
    internal string Backend { get; } = backend;

    internal int MaxPending { get; } = maxPending;

    internal TimeSpan RetryInterval { get; } = retryInterval;

    internal TimeSpan OperationTimeout { get; } = operationTimeout;

    internal Func<PendingInvalidation, CancellationToken, Task> Send { get; } = send;

    internal Func<Exception, InvalidationSendFailure> Classify { get; } = classify;

    internal Func<bool>? CanTry { get; } = canTry;
}

/// <summary>
/// The one retry queue for invalidations a backend could not apply: a failed invalidation is never silent (the caller
/// gets an <see cref="InvalidationFailedException"/>) and never lost while the process lives. Bounded — past
/// <c>maxPending</c> every queued key and tag write collapses into one clear, which voids
/// all they would have — with a newer write for a target replacing an older one, refusals backing off one by one, the
/// host told when a write lands (this node may have refilled its L1 from the old value meanwhile), and one last attempt at
/// disposal, logging each write that did not land.
/// </summary>
public sealed class InvalidationRetryQueue : IAsyncDisposable
{
    private readonly InvalidationRetrySettings _settings;
    private readonly ISharedTierHost _host;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, PendingInvalidation> _pending = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private ITimer? _timer;
    private int _retrying;
    private long _collapses;

    /// <summary>Creates the queue; <see cref="Start"/> starts its rounds.</summary>
    public InvalidationRetryQueue(InvalidationRetrySettings settings, ISharedTierHost host, ILogger logger)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _host = host ?? throw new ArgumentNullException(nameof(host));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>Writes waiting (<see cref="ISharedTier.PendingInvalidations"/>).</summary>
    public long Count => _pending.Count;

    /// <summary>Times the queue overflowed into a clear of the whole cache.</summary>
    public long Collapses => Interlocked.Read(ref _collapses);

    /// <summary>Raised when the queue collapses (a backend counts it in its metrics).</summary>
    public event Action? Collapsed;

    /// <summary>Starts a round every the retry interval on the host's clock.</summary>
    public void Start() =>
        _timer = _host.TimeProvider.CreateTimer(static s => _ = ((InvalidationRetryQueue)s!).RetryAsync(), this, _settings.RetryInterval, _settings.RetryInterval);

    /// <summary>Queues <paramref name="write"/> after its first attempt failed; returns the exception to throw at the caller.</summary>
    public InvalidationFailedException Queue(PendingInvalidation write, Exception cause)
    {
        var collapsed = Enqueue(write);
        RetryQueueLog.Queued(_logger, write.Target, _settings.Backend, cause);
        return new InvalidationFailedException(collapsed
            ? $"The invalidation of {write.Target} could not be applied to {_settings.Backend} ({cause.Message}), and {_settings.MaxPending} invalidations " +
              "were already waiting: every queued key and tag invalidation was collapsed into one clear of the whole cache, retried in the background " +
              "until it lands (every entry is then recomputed once); until then other nodes may serve old values up to their family's Ttl."
            : $"The invalidation of {write.Target} could not be applied to {_settings.Backend} ({cause.Message}). It is retried in the background until it lands; " +
              "until then other nodes may serve the old value up to the family's Ttl.", cause);
    }

    /// <summary>
    /// The caller cancelled while the write was on its way: it may or may not land, so it is retried like a failed one and
    /// never silently dropped (a retry of one that did land is one extra invalidation: harmless).
    /// </summary>
    public void Requeue(PendingInvalidation write) => Enqueue(write);

    private bool Enqueue(PendingInvalidation write)
    {
        int dropped;
        lock (_lock)
        {
            if (_pending.ContainsKey(write.Target) || _pending.Count < _settings.MaxPending)
            {
                _pending[write.Target] = write;
                return false;
            }

            dropped = 0;
            foreach (var target in _pending.Keys)
            {
                if (_pending.TryRemove(target, out var removed) && removed.Kind != PendingInvalidationKind.Clear)
                {
                    dropped++;
                }
            }

            // Always a new clear, even if one was queued: one already in flight may have run before the writes it now replaces.
            var clear = PendingInvalidation.ForClear();
            _pending[clear.Target] = clear;
        }

        Interlocked.Increment(ref _collapses);
        Collapsed?.Invoke();
        RetryQueueLog.Collapsed(_logger, _settings.MaxPending, _settings.Backend, dropped + 1);
        return true;
    }

    /// <summary>One round: every write not backing off is sent once; a failure to reach the backend ends the round.</summary>
    public async Task RetryAsync()
    {
        if (_pending.IsEmpty || _settings.CanTry?.Invoke() == false || Interlocked.Exchange(ref _retrying, 1) == 1)
        {
            return;
        }

        try
        {
            var time = _host.TimeProvider;
            var now = time.GetTimestamp();
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
                    await _settings.Send(write, _stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
                {
                    switch (_settings.Classify(ex))
                    {
                        case InvalidationSendFailure.Refused:
                            var delay = Backoff(write.Attempts);
                            write.NotBefore = now + (long)(delay.TotalSeconds * time.TimestampFrequency);
                            RetryQueueLog.Refused(_logger, target, _settings.Backend, write.Attempts, delay, ex.Message);
                            continue;
                        case InvalidationSendFailure.Undeliverable:
                            _pending.TryRemove(new KeyValuePair<string, PendingInvalidation>(target, write));
                            RetryQueueLog.Undeliverable(_logger, target, _settings.Backend, ex.Message);
                            continue;
                        default:
                            return; // still unreachable: the next round tries again
                    }
                }

                _pending.TryRemove(new KeyValuePair<string, PendingInvalidation>(target, write));
                Landed(write);
                RetryQueueLog.Landed(_logger, target, write.Attempts);
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

    /// <summary>
    /// This node ignores its own bus messages (or has none), yet while the invalidation was pending it may have refilled its
    /// L1 from the old value: drop it now, as every other node does.
    /// </summary>
    private void Landed(PendingInvalidation write)
    {
        switch (write.Kind)
        {
            case PendingInvalidationKind.Key:
                _host.OnRemoteInvalidated(write.Name);
                break;
            case PendingInvalidationKind.Tag:
                _host.OnRemoteTagInvalidated(write.Name);
                break;
            default:
                _host.OnRemoteCleared();
                break;
        }
    }

    /// <summary>RetryInterval doubled per refusal, at most a minute (or RetryInterval when that is longer).</summary>
    private TimeSpan Backoff(int attempts)
    {
        var cap = TimeSpan.FromMinutes(1) > _settings.RetryInterval ? TimeSpan.FromMinutes(1) : _settings.RetryInterval;
        var delay = _settings.RetryInterval * Math.Pow(2, Math.Min(attempts - 1, 20));
        return delay < cap ? delay : cap;
    }

    /// <summary>Stops the rounds, then makes one last attempt at every queued write, bounded by the operation timeout in all; logs each that did not land.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        var writes = _pending.ToArray();
        if (writes.Length > 0)
        {
            using var bound = new CancellationTokenSource(_settings.OperationTimeout, _host.TimeProvider);
            var calls = writes.Select(w => SendOnce(w.Value, bound.Token)).ToArray();
            try
            {
                await Task.WhenAll(calls).WaitAsync(_settings.OperationTimeout, _host.TimeProvider).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // judged one by one below
            }

            for (var i = 0; i < writes.Length; i++)
            {
                if (calls[i].IsCompletedSuccessfully)
                {
                    _pending.TryRemove(writes[i]);
                    continue;
                }

                _ = calls[i].ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                var reason = calls[i].Exception?.InnerException?.Message ?? $"no answer within {_settings.OperationTimeout.TotalMilliseconds} ms";
                RetryQueueLog.Undelivered(_logger, writes[i].Key, _settings.Backend, reason);
            }
        }

        _stopping.Dispose();
    }

    private Task SendOnce(PendingInvalidation write, CancellationToken cancellationToken)
    {
        try
        {
            return _settings.Send(write, cancellationToken);
        }
        catch (Exception ex)
        {
            return Task.FromException(ex); // refused before sending: logged like the rest
        }
    }
}

internal static partial class RetryQueueLog
{
    [LoggerMessage(2007, LogLevel.Warning, "Invalidation of {Target} could not reach {Backend}; retrying in the background")]
    public static partial void Queued(ILogger logger, string target, string backend, Exception exception);

    [LoggerMessage(2008, LogLevel.Information, "Queued invalidation of {Target} landed after {Attempts} attempt(s)")]
    public static partial void Landed(ILogger logger, string target, int attempts);

    [LoggerMessage(2014, LogLevel.Warning, "More than {Max} invalidations were waiting for {Backend}: the {Collapsed} queued key and tag invalidations were collapsed into one clear of the whole cache")]
    public static partial void Collapsed(ILogger logger, int max, string backend, int collapsed);

    [LoggerMessage(2015, LogLevel.Error, "Disposed with the invalidation of {Target} not delivered to {Backend} ({Reason}): other nodes may serve the old value up to its family's Ttl")]
    public static partial void Undelivered(ILogger logger, string target, string backend, string reason);

    [LoggerMessage(2020, LogLevel.Error, "The queued invalidation of {Target} can never be sent to {Backend} ({Reason}): dropped; other nodes may serve the old value up to its family's Ttl")]
    public static partial void Undeliverable(ILogger logger, string target, string backend, string reason);

    [LoggerMessage(2016, LogLevel.Warning, "{Backend} refused the queued invalidation of {Target} (attempt {Attempts}): {Reason}; retried in {Delay} without holding up the others")]
    public static partial void Refused(ILogger logger, string target, string backend, int attempts, TimeSpan delay, string reason);
}
