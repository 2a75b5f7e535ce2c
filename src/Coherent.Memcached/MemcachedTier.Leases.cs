using System.Collections.Concurrent;
using System.Globalization;
using Coherent.Memcached.Protocol;
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
    /// (<c>mg … R</c>) makes exactly one caller in the fleet the refresher, while the value stays a hit for everyone. A batch
    /// of one (<see cref="TryAcquireLeasesAsync"/>), so the rule has one home.
    /// </summary>
    public async ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken) =>
        (await TryAcquireLeasesAsync([key], leaseTime, cancellationToken).ConfigureAwait(false))[0];

    /// <summary>
    /// The leases of a bulk call's misses, each as <see cref="TryAcquireLeaseAsync"/> takes it. Only what costs a round trip
    /// is sent, each step one batch per server, all servers at once: the lease reads of keys whose read did not win their
    /// placeholder, then the touches that stretch each placeholder won to the lease time (a refresh's value keeps its own
    /// TTL). All or nothing: when a lease read fails, every lease the batch holds — won by the engine's read or by the batch —
    /// is released and the failure thrown; so is a cancellation's (a placeholder whose answer it never read expires with its
    /// three seconds). A touch that fails is only logged, as a single lease logs it: the placeholder keeps its first TTL.
    /// </summary>
    public async ValueTask<IReadOnlyList<SharedTierLease?>> TryAcquireLeasesAsync(IReadOnlyList<string> keys, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var leases = new SharedTierLease?[keys.Count];
        var refreshes = new bool[keys.Count];
        try
        {
            await ReadLeasesAsync(keys, leases, refreshes, cancellationToken).ConfigureAwait(false);
            await TouchPlaceholdersAsync(keys, leases, refreshes, leaseTime + TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Released together (a release never throws: it logs); one to a server in trouble must not hold up the others.
            await Task.WhenAll(leases.OfType<SharedTierLease>().Select(l => ReleaseLeaseAsync(l, CancellationToken.None).AsTask())).ConfigureAwait(false);
            throw;
        }

        return leases;
    }

    /// <summary>
    /// Fills <paramref name="leases"/> with the placeholders this node's reads won and, in one batch per server, the lease
    /// reads of the other keys; throws (having filled in every lease won) when a key could not be asked.
    /// </summary>
    private async ValueTask ReadLeasesAsync(IReadOnlyList<string> keys, SharedTierLease?[] leases, bool[] refreshes, CancellationToken cancellationToken)
    {
        var reads = new List<(int Index, byte[] KeyUtf8, (int Server, int Generation) Owner, MetaRequest Request)>();
        var failed = new List<string>();
        Exception? failure = null;
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i];
            if (TakeWon(key, out var epoch, out var keepUntilMs))
            {
                leases[i] = LeaseOf(key, epoch, refresh: false, keepUntilMs);
                continue;
            }

            try
            {
                var keyUtf8 = MemcachedKey.Utf8(key);
                var wireKey = _store.DataKey(keyUtf8);
                var owner = Owner(wireKey);
                var recache = !_held.TryRemove(key, out _);
                reads.Add((i, keyUtf8, owner, MemcachedStore.LeaseReadRequest(wireKey, new LeaseOptions(PlaceholderTtl, recache ? AnyTtl : null))));
            }
            catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
            {
                failed.Add(key);
                failure ??= ex;
            }
        }

        if (failure is null && reads.Count > 0)
        {
            var answers = await _store.SendEachAsync([.. reads.Select(r => r.Request)], (j, response) => MemcachedStore.LeaseReadOf(response, reads[j].KeyUtf8), cancellationToken).ConfigureAwait(false);
            for (var j = 0; j < reads.Count; j++)
            {
                var (i, _, owner, _) = reads[j];
                if (answers[j].Failure is { } ex)
                {
                    failed.Add(keys[i]);
                    failure ??= ex;
                    continue;
                }

                var read = answers[j].Value;
                var epoch = read.Outcome == ReadOutcome.Won ? Epoch(owner, read.Cas) : 0;
                if (epoch == 0)
                {
                    continue;
                }

                // A value not marked stale is refreshed early (it stays a hit meanwhile); one marked stale is a kept value.
                refreshes[i] = read.Payload is { Length: > 0 } && !read.IsStale;
                leases[i] = LeaseOf(keys[i], epoch, refreshes[i], read.Payload is { Length: > 0 } && read.IsStale ? KeepUntil(read) : 0);
                if (read.Payload is { } pointer && VersionPointer.TryRead(pointer.Span, out var version))
                {
                    RememberPointer(keys[i], epoch, version);
                }
            }
        }

        if (failure is not null)
        {
            throw new CoherentException($"Memcached could not be asked for the lease of {(failed.Count == 1 ? "key" : "keys")} {string.Join(", ", failed)}: {failure.Message}", failure);
        }
    }

    /// <summary>
    /// Stretches each placeholder (or kept value) won to <paramref name="placeholderTtl"/> when it outlives the read's
    /// <see cref="PlaceholderTtl"/>, one batch per server; a failure only leaves that placeholder its first TTL (a waiter
    /// may then compute too, fenced).
    /// </summary>
    private async ValueTask TouchPlaceholdersAsync(IReadOnlyList<string> keys, SharedTierLease?[] leases, bool[] refreshes, TimeSpan placeholderTtl, CancellationToken cancellationToken)
    {
        if (placeholderTtl <= PlaceholderTtl)
        {
            return;
        }

        var touched = new List<int>();
        for (var i = 0; i < keys.Count; i++)
        {
            if (leases[i] is not null && !refreshes[i])
            {
                touched.Add(i);
            }
        }

        if (touched.Count == 0)
        {
            return;
        }

        var answers = await _store.SendEachAsync([.. touched.Select(i => _store.TouchRequest(keys[i], placeholderTtl))], static (_, response) => MemcachedStore.Touched(response), cancellationToken).ConfigureAwait(false);
        for (var j = 0; j < touched.Count; j++)
        {
            if (answers[j].Failure is { } failure)
            {
                MemcachedLog.ReadFailed(_logger, keys[touched[j]], failure);
            }
        }
    }

    /// <summary>A lease: its token is the epoch, marked for a refresh (its value kept on release) or a kept value (stored back until when).</summary>
    private static SharedTierLease LeaseOf(string key, long epoch, bool refresh, long keepUntilMs) =>
        new(key, epoch.ToString(CultureInfo.InvariantCulture)
            + (refresh ? RefreshMark : keepUntilMs > 0 ? KeptMark + keepUntilMs.ToString(CultureInfo.InvariantCulture) : ""), epoch);

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
