using System.Collections.Concurrent;
using Coherent.SharedTier;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>Fleet-wide leases (<c>SET NX PX</c> with a token) and the "filled" notices that wake the nodes waiting on them.</summary>
internal sealed partial class RedisTier
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<bool>> _fillWaiters = new(StringComparer.Ordinal);

    public async ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken) =>
        (await TryAcquireLeasesAsync([key], leaseTime, cancellationToken).ConfigureAwait(false))[0];

    /// <summary>
    /// The leases of a batch in one script (one per Cluster slot once the client refused a cross-slot one), each key's lease
    /// as a single lease script takes it; a single lease is a batch of one.
    /// </summary>
    public async ValueTask<IReadOnlyList<SharedTierLease?>> TryAcquireLeasesAsync(IReadOnlyList<string> keys, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ThrowIfOpen();
        var tokens = new string[keys.Count];
        for (var i = 0; i < tokens.Length; i++)
        {
            tokens[i] = Guid.NewGuid().ToString("N");
        }

        var calls = new List<(List<int> Indexes, Task<RedisResult> Call)>();
        try
        {
            foreach (var group in SlotGroups(keys.Count, i => _keys.Lease(keys[i])))
            {
                calls.Add((group, SendLeases(keys, tokens, group, leaseTime)));
            }

            await AwaitAllAsync(calls, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (RefusedAcrossSlots(ex))
            {
                ReleaseIfTakenLater(calls, keys, tokens); // none was sent: a refused command never is
                return await TryAcquireLeasesAsync(keys, leaseTime, cancellationToken).ConfigureAwait(false);
            }

            // The caller stopped waiting (cancelled, timed out), or a part failed, but the scripts sent may still run and take
            // their leases. Their tokens would be lost with this frame and every node's next miss would wait the whole lease
            // time: release them here.
            ReleaseIfTakenLater(calls, keys, tokens);
            throw;
        }

        var leases = new SharedTierLease?[keys.Count];
        foreach (var (indexes, call) in calls)
        {
            TakenLeases(call.Result, keys, tokens, indexes, leases);
        }

        return leases;
    }

    private Task<RedisResult> SendLeases(IReadOnlyList<string> keys, string[] tokens, List<int> indexes, TimeSpan leaseTime)
    {
        var names = new RedisKey[indexes.Count * 2];
        var args = new RedisValue[3 + indexes.Count];
        (args[0], args[1], args[2]) = ((long)leaseTime.TotalMilliseconds, EpochFloor(), EpochRetentionMs);
        for (var j = 0; j < indexes.Count; j++)
        {
            var key = keys[indexes[j]];
            (names[2 * j], names[2 * j + 1]) = (_keys.Lease(key), _keys.Epoch(key));
            args[3 + j] = tokens[indexes[j]];
        }

        return Evaluate(Scripts.Lease, names, args);
    }

    /// <summary>A lease script's answer, {taken, epoch} for each key of the group in order, into <paramref name="leases"/>.</summary>
    private void TakenLeases(RedisResult result, IReadOnlyList<string> keys, string[] tokens, List<int> indexes, SharedTierLease?[] leases)
    {
        var parts = (RedisResult[])result!;
        for (var j = 0; j < indexes.Count; j++)
        {
            var i = indexes[j];
            var epoch = ReadEpoch(_keys.Epoch(keys[i]), (RedisValue)parts[2 * j + 1]);
            leases[i] = (long)parts[2 * j] == 1 ? new SharedTierLease(keys[i], tokens[i], epoch) : null;
        }
    }

    private void ReleaseIfTakenLater(List<(List<int> Indexes, Task<RedisResult> Call)> calls, IReadOnlyList<string> keys, string[] tokens)
    {
        foreach (var (indexes, call) in calls)
        {
            _ = call.ContinueWith(
                async (t, state) =>
                {
                    var tier = (RedisTier)state!;
                    if (!t.IsCompletedSuccessfully)
                    {
                        _ = t.Exception; // observed: the caller has already seen its own failure
                        return;
                    }

                    var taken = new SharedTierLease?[keys.Count];
                    tier.TakenLeases(t.Result, keys, tokens, indexes, taken);
                    foreach (var orphan in taken)
                    {
                        if (orphan is null || tier._breaker.IsOpen)
                        {
                            continue; // not taken, or it expires by itself after its lease time
                        }

                        try
                        {
                            await tier.ReleaseLeaseAsync(orphan, CancellationToken.None).ConfigureAwait(false);
                            RedisLog.OrphanedLeaseReleased(tier._logger, orphan.Key);
                        }
                        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
                        {
                            RedisLog.ReadFailed(tier._logger, orphan.Key, ex); // it expires by itself after its lease time
                        }
                    }
                },
                this,
                CancellationToken.None,
                TaskContinuationOptions.None,
                TaskScheduler.Default);
        }
    }

    public async ValueTask ReleaseLeaseAsync(SharedTierLease lease, CancellationToken cancellationToken)
    {
        if (_breaker.IsOpen)
        {
            return; // the lease expires by itself
        }

        await CallAsync(_db.ScriptEvaluateAsync(Scripts.Release, [_keys.Lease(lease.Key)], [lease.Token, _keys.Channel.ToString(), StartedBus.FillFrame(lease.Key)]), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> WaitForFillAsync(string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var waiter = _fillWaiters.GetOrAdd(key, static _ => new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
        try
        {
            // The holder may have finished between our lease attempt and now: its lease is gone, no notice will come.
            if (!await CallAsync(_db.KeyExistsAsync(_keys.Lease(key)), cancellationToken).ConfigureAwait(false))
            {
                return true;
            }

            return await waiter.Task.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return false; // Redis trouble: compute ourselves
        }
        finally
        {
            _fillWaiters.TryRemove(new KeyValuePair<string, TaskCompletionSource<bool>>(key, waiter));
        }
    }

    /// <summary>A "filled" (or "released") notice arrived: wake this node's waiter for the key.</summary>
    internal void OnFilled(string key)
    {
        if (_fillWaiters.TryRemove(key, out var waiter))
        {
            waiter.TrySetResult(true);
        }
    }
}
