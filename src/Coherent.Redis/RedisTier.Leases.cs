using System.Collections.Concurrent;
using Coherent.SharedTier;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>Fleet-wide leases (<c>SET NX PX</c> with a token) and the "filled" notices that wake the nodes waiting on them.</summary>
internal sealed partial class RedisTier
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<bool>> _fillWaiters = new(StringComparer.Ordinal);

    public async ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ThrowIfOpen();
        var token = Guid.NewGuid().ToString("N");
        var call = _db.ScriptEvaluateAsync(Scripts.Lease, [_keys.Lease(key), _keys.Epoch(key)], [token, (long)leaseTime.TotalMilliseconds, EpochFloor(), EpochRetentionMs]);
        RedisResult result;
        try
        {
            result = await CallAsync(call, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The caller stopped waiting (cancelled, timed out), but the script may still run and take the lease. Its token
            // would be lost with this frame and every node's next miss would wait the whole lease time: release it here.
            ReleaseIfTakenLater(call, key, token);
            throw;
        }

        return TakenLease(result, key, token);
    }

    private SharedTierLease? TakenLease(RedisResult result, string key, string token)
    {
        var parts = (RedisResult[])result!;
        var epoch = ReadEpoch(_keys.Epoch(key), (RedisValue)parts[1]);
        return (long)parts[0] == 1 ? new SharedTierLease(key, token, epoch) : null;
    }

    private void ReleaseIfTakenLater(Task<RedisResult> call, string key, string token) =>
        _ = call.ContinueWith(
            async (t, state) =>
            {
                var tier = (RedisTier)state!;
                if (!t.IsCompletedSuccessfully || tier.TakenLease(t.Result, key, token) is not { } orphan)
                {
                    _ = t.Exception; // observed: the caller has already seen its own failure
                    return;
                }

                if (tier._breaker.IsOpen)
                {
                    return; // it expires by itself after its lease time
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
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default);

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
