using System.Collections.Concurrent;
using System.Globalization;
using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// Fleet leases are Memcached's own: the read that misses creates a placeholder (<c>mg … N</c>) and exactly one caller in the
/// fleet is told it won (<c>W</c>); the others see <c>Z</c> and poll for the fill. The lease's token and epoch are the
/// placeholder's CAS, so the winner's store is fenced by it and a release deletes only that placeholder. A value kept for
/// fail-safe and marked stale by the read (<c>X W</c>) is a lease too: the others get the value at once (<c>X Z</c>), and
/// a release stores it back for the rest of its retention rather than delete it.
/// </summary>
internal sealed partial class MemcachedTier
{
    /// <summary>First pause between fill polls; it grows by half each time up to <see cref="PollCap"/> (then <see cref="SlowPollCap"/> after a second).</summary>
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(2);
    private static readonly TimeSpan PollCap = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan SlowPollCap = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Placeholders (or kept values marked stale) this node's reads won, by key, with when (timestamp) and, for a kept value,
    /// until when it is kept (engine clock; 0 for a placeholder): the lease the engine asks for next.
    /// </summary>
    private readonly ConcurrentDictionary<string, (long Epoch, long At, long KeepUntilMs)> _won = new(StringComparer.Ordinal);

    /// <summary>Keys whose last read on this node found another caller's lease (a miss): the engine asks for the lease next.</summary>
    private readonly ConcurrentDictionary<string, long> _held = new(StringComparer.Ordinal);

    /// <summary>A refresh lease's token ends with this: its item holds a value, which a release must keep.</summary>
    private const string RefreshMark = "r";

    /// <summary>A kept value's lease token: epoch, this mark, then until when it is kept (engine clock), which a release stores it back for.</summary>
    private const char KeptMark = 'k';

    /// <summary>A recache threshold every item's remaining TTL is below, even one kept for fail-safe past Memcached's 30-day relative TTLs.</summary>
    private static readonly TimeSpan AnyTtl = TimeSpan.FromSeconds(int.MaxValue);

    private void RecordWon(string key, long epoch, long keepUntilMs) => _won[key] = (epoch, _time.GetTimestamp(), keepUntilMs);

    private void RecordHeld(string key)
    {
        if (_held.Count >= MaxGuessedKeys)
        {
            _held.Clear(); // forgetting one costs at most an early refresh's recache win on a value just filled
        }

        _held[key] = _time.GetTimestamp();
    }

    /// <summary>The placeholder (or kept value) this node's last read of the key won, if it is still young enough to be alive.</summary>
    private bool TakeWon(string key, out long epoch, out long keepUntilMs)
    {
        epoch = 0;
        keepUntilMs = 0;
        if (!_won.TryRemove(key, out var won) || _time.GetElapsedTime(won.At) >= PlaceholderTtl - TimeSpan.FromSeconds(1))
        {
            return false;
        }

        epoch = won.Epoch;
        keepUntilMs = won.KeepUntilMs;
        return epoch > 0;
    }

    /// <summary>
    /// The lease for a key the engine's read just missed or (an early refresh) found current. A placeholder this node's read
    /// won is the lease. After a read that found another caller's placeholder, only a placeholder won now is (a value filled
    /// meanwhile must not be recomputed). Otherwise the read found a value to refresh: Memcached's recache win on it
    /// (<c>mg … R</c>) makes exactly one caller in the fleet the refresher, while the value stays a hit for everyone.
    /// </summary>
    public async ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        var refresh = false;
        if (!TakeWon(key, out var epoch, out var keepUntilMs))
        {
            LeaseRead read;
            (int Server, int Generation) owner;
            try
            {
                owner = Owner(key);
                var recache = !_held.TryRemove(key, out _);
                read = await _store.ReadAsync(key, new LeaseOptions(PlaceholderTtl, recache ? AnyTtl : null), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
            {
                throw new CoherentException($"Memcached could not be asked for the lease of key {key}: {ex.Message}", ex);
            }

            if (read.Outcome != ReadOutcome.Won || (epoch = Epoch(owner, read.Cas)) == 0)
            {
                return null;
            }

            // A value not marked stale is refreshed early (it stays a hit meanwhile); one marked stale is a kept value.
            refresh = read.Payload is { Length: > 0 } && !read.IsStale;
            keepUntilMs = read.Payload is { Length: > 0 } && read.IsStale ? KeepUntil(read) : 0;
            if (read.Payload is { } pointer && VersionPointer.TryRead(pointer.Span, out var version))
            {
                RememberPointer(key, epoch, version);
            }
        }

        var placeholderTtl = leaseTime + TimeSpan.FromSeconds(1);
        if (!refresh && placeholderTtl > PlaceholderTtl)
        {
            try
            {
                await _store.TouchAsync(key, placeholderTtl, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
            {
                MemcachedLog.ReadFailed(_logger, key, ex); // the placeholder keeps its first TTL: a waiter may compute too, fenced
            }
        }

        var token = epoch.ToString(CultureInfo.InvariantCulture)
            + (refresh ? RefreshMark : keepUntilMs > 0 ? KeptMark + keepUntilMs.ToString(CultureInfo.InvariantCulture) : "");
        return new SharedTierLease(key, token, epoch);
    }

    /// <summary>
    /// Gives the lease back without a fill: a placeholder is deleted (if unchanged), so a waiter takes over at its next poll; a
    /// refreshed value is kept and its recache win cleared by storing it back unchanged (if unchanged), so a later refresh can
    /// win; a kept value is stored back the same way for the rest of its retention (its stale mark and win cleared), so it
    /// still serves fail-safe and the next read past the fail-safe throttle can win it again.
    /// </summary>
    public async ValueTask ReleaseLeaseAsync(SharedTierLease lease, CancellationToken cancellationToken)
    {
        _won.TryRemove(lease.Key, out _);
        var token = lease.Token;
        var refresh = token.EndsWith(RefreshMark, StringComparison.Ordinal);
        var kept = token.IndexOf(KeptMark, StringComparison.Ordinal);
        long keepUntilMs = 0;
        if (!long.TryParse(refresh ? token[..^RefreshMark.Length] : kept >= 0 ? token[..kept] : token, NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
            || (kept >= 0 && !long.TryParse(token[(kept + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out keepUntilMs)))
        {
            return;
        }

        try
        {
            if (!TryOpen(lease.Key, epoch, out var cas))
            {
                return; // the key moved to another server, or its server went down: that placeholder is gone or unreachable
            }

            var keepFor = TimeSpan.FromMilliseconds(keepUntilMs - Host.NowMs());
            if (!refresh && keepFor < TimeSpan.FromSeconds(1))
            {
                await _store.DeleteIfAsync(lease.Key, cas, cancellationToken).ConfigureAwait(false);
                return;
            }

            var current = await _store.ReadAsync(lease.Key, LeaseOptions.None, cancellationToken).ConfigureAwait(false);
            var ttl = refresh ? TimeSpan.FromSeconds(current.RemainingTtlSeconds ?? 0) : keepFor;
            if (current.Cas == cas && current.Payload is { } payload && ttl > TimeSpan.Zero)
            {
                await _store.StoreAsync(lease.Key, payload, ttl, cas, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
        {
            MemcachedLog.ReadFailed(_logger, lease.Key, ex); // the placeholder (or the recache win) expires with its item
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
                if (read.Outcome == ReadOutcome.Won)
                {
                    await _store.DeleteIfAsync(key, read.Cas, cancellationToken).ConfigureAwait(false); // not ours to fill: give it back
                    return true;
                }
            }
            catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
            {
                MemcachedLog.ReadFailed(_logger, key, ex);
                return false; // Memcached trouble: compute ourselves
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
