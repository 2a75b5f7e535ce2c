using System.Collections.Concurrent;
using System.Globalization;
using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// Fleet leases are Memcached's own: the read that misses creates a placeholder (<c>mg … N</c>) and exactly one caller in the
/// fleet is told it won (<c>W</c>); the others see <c>Z</c> and poll for the fill. The lease's token and epoch are the
/// placeholder's CAS, so the winner's store is fenced by it and a release deletes only that placeholder.
/// </summary>
internal sealed partial class MemcachedTier
{
    /// <summary>First pause between fill polls; it grows by half each time up to <see cref="PollCap"/> (then <see cref="SlowPollCap"/> after a second).</summary>
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(2);
    private static readonly TimeSpan PollCap = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan SlowPollCap = TimeSpan.FromMilliseconds(50);

    /// <summary>Placeholders this node's reads won, by key, with when (timestamp): the lease the engine asks for next.</summary>
    private readonly ConcurrentDictionary<string, (long Epoch, long At)> _won = new(StringComparer.Ordinal);

    private void RecordWon(string key, long epoch) => _won[key] = (epoch, _time.GetTimestamp());

    /// <summary>The placeholder this node's last read of the key won, if it is still young enough to be alive.</summary>
    private bool TakeWon(string key, out long epoch)
    {
        epoch = 0;
        if (!_won.TryRemove(key, out var won) || _time.GetElapsedTime(won.At) >= PlaceholderTtl - TimeSpan.FromSeconds(1))
        {
            return false;
        }

        epoch = won.Epoch;
        return epoch > 0;
    }

    public async ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        if (!TakeWon(key, out var epoch))
        {
            // The engine's read did not win here (or long ago): read again, which wins a placeholder that expired or was released.
            var read = await ReadAsync(key, lease: true, cancellationToken).ConfigureAwait(false);
            if (read.Status == SharedTierReadStatus.Unavailable)
            {
                throw new CoherentException($"Memcached could not be asked for the lease of key {key}.");
            }

            if (!TakeWon(key, out epoch))
            {
                return null;
            }
        }

        var placeholderTtl = leaseTime + TimeSpan.FromSeconds(1);
        if (placeholderTtl > PlaceholderTtl)
        {
            try
            {
                await _store.TouchAsync(key, placeholderTtl, cancellationToken).ConfigureAwait(false);
            }
            catch (MemcachedException ex)
            {
                MemcachedLog.ReadFailed(_logger, key, ex); // the placeholder keeps its first TTL: a waiter may compute too, fenced
            }
        }

        return new SharedTierLease(key, epoch.ToString(CultureInfo.InvariantCulture), epoch);
    }

    public async ValueTask ReleaseLeaseAsync(SharedTierLease lease, CancellationToken cancellationToken)
    {
        _won.TryRemove(lease.Key, out _);
        if (!long.TryParse(lease.Token, NumberStyles.None, CultureInfo.InvariantCulture, out var epoch))
        {
            return;
        }

        try
        {
            if (!TryOpen(lease.Key, epoch, out var cas))
            {
                return; // the key moved to another server, or its server went down: that placeholder is gone or unreachable
            }

            await _store.DeleteIfAsync(lease.Key, cas, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
        {
            MemcachedLog.ReadFailed(_logger, lease.Key, ex); // the placeholder expires by itself
        }
    }

    /// <summary>
    /// Polls the key (plain <c>mg</c>: it never takes the lease) until the placeholder is gone or holds a value, with a short
    /// backoff (2 ms growing to 10 ms, 50 ms after a second), up to <paramref name="timeout"/>.
    /// </summary>
    public async ValueTask<bool> WaitForFillAsync(string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var pause = FirstPoll;
        while (true)
        {
            LeaseRead read;
            try
            {
                read = await _store.ReadAsync(key, LeaseOptions.None, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
            {
                MemcachedLog.ReadFailed(_logger, key, ex);
                return false; // Memcached trouble: compute ourselves
            }

            if (read.Outcome == ReadOutcome.Won)
            {
                await _store.DeleteIfAsync(key, read.Cas, cancellationToken).ConfigureAwait(false); // not ours to fill: give it back
                return true;
            }

            if (read.Outcome != ReadOutcome.HeldByOther)
            {
                return true; // filled, written, deleted or expired: the engine reads it again
            }

            var elapsed = _time.GetElapsedTime(started);
            if (elapsed >= timeout)
            {
                return false;
            }

            var remaining = timeout - elapsed;
            await Task.Delay(pause < remaining ? pause : remaining, _time, cancellationToken).ConfigureAwait(false);
            var cap = elapsed < TimeSpan.FromSeconds(1) ? PollCap : SlowPollCap;
            pause = pause * 1.5 < cap ? pause * 1.5 : cap;
        }
    }
}
