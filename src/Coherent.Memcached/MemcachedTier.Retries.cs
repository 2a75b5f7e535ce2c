using System.Diagnostics.Metrics;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// Invalidations that did not reach Memcached go to the core's retry queue (<see cref="InvalidationRetryQueue"/>: bounded,
/// collapsing into one clear, one last attempt at disposal), which sends them through this tier.
/// </summary>
internal sealed partial class MemcachedTier
{
    private readonly Counter<long> _queueCollapses;
    private InvalidationRetryQueue? _retries;

    public long PendingInvalidations => _retries?.Count ?? 0;

    private InvalidationRetryQueue Retries => _retries ?? throw new InvalidOperationException("The tier is not started.");

    private InvalidationRetryQueue CreateRetryQueue(ISharedTierHost host)
    {
        var queue = new InvalidationRetryQueue(
            new InvalidationRetrySettings("Memcached", _options.MaxPendingInvalidations, _options.RetryInterval, _options.OperationTimeout,
                SendAsync, Classify),
            host, _logger);
        queue.Collapsed += () => _queueCollapses.Add(1, new KeyValuePair<string, object?>("coherent.cache", CacheName));
        return queue;
    }

    /// <summary>
    /// A live server that refused this one write must not hold up the others; a server out of reach ends the round; anything
    /// else (a name the protocol cannot carry) can never be sent.
    /// </summary>
    private static InvalidationSendFailure Classify(Exception ex) => ex switch
    {
        MemcachedException { IsConnectivityFailure: false } => InvalidationSendFailure.Refused,
        MemcachedException or ObjectDisposedException or TimeoutException or OperationCanceledException => InvalidationSendFailure.Unreachable,
        _ => InvalidationSendFailure.Undeliverable,
    };
}
