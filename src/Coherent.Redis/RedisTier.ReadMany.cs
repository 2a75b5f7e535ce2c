using Coherent.SharedTier;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>
/// A bulk call's reads. The plain keys' data (with their epochs when envelopes are signed) come in one <c>MGET</c> — one
/// command per Cluster slot once the client has refused a cross-slot one, as a cluster's does — under one deadline for
/// the batch instead of one timer per key; each reply is then judged exactly as a single read's (<see cref="TryJudge"/>).
/// A miss comes without its epoch, as <see cref="ReadForLeaseAsync"/>'s: the lease that follows reads it. Versioned keys
/// keep their single-key script, which follows the pointer.
/// </summary>
internal sealed partial class RedisTier
{
    public async ValueTask<IReadOnlyList<SharedTierRead>> ReadManyAsync(IReadOnlyList<SharedTierKey> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var results = new SharedTierRead[keys.Count];
        if (keys.Count == 0 || _breaker.IsOpen)
        {
            return results; // default: Unavailable
        }

        var versioned = new Task<SharedTierRead>?[keys.Count];
        var plain = new List<int>(keys.Count);
        var data = new RedisValue[keys.Count];
        var epochs = _signingKey is null ? null : new RedisValue[keys.Count];
        List<(List<int> Indexes, Task<RedisValue[]> Call)> calls = [];
        try
        {
            if (!_versionsLoaded.IsCompletedSuccessfully)
            {
                await EnsureVersionsLoadedAsync(cancellationToken).ConfigureAwait(false);
            }

            for (var i = 0; i < keys.Count; i++)
            {
                if (IsVersioned(keys[i]))
                {
                    versioned[i] = ReadForLeaseAsync(keys[i], cancellationToken).AsTask();
                }
                else
                {
                    plain.Add(i);
                }
            }

            calls = StartGets(keys, plain);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (RefusedAcrossSlots(ex))
            {
                return await ReadManyAsync(keys, cancellationToken).ConfigureAwait(false);
            }

            return await AllFailedAsync(keys, results, versioned, calls.Select(c => (Task)c.Call).ToList(), ex).ConfigureAwait(false);
        }

        if (calls.Count > 0)
        {
            var all = Task.WhenAll(calls.Select(c => c.Call));
            try
            {
                await Bounded(all, cancellationToken).ConfigureAwait(false);
                _breaker.OnSuccess();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (RefusedAcrossSlots(ex))
                {
                    return await ReadManyAsync(keys, cancellationToken).ConfigureAwait(false);
                }

                return await AllFailedAsync(keys, results, versioned, [all], ex).ConfigureAwait(false);
            }

            foreach (var (indexes, call) in calls)
            {
                var values = call.Result;
                for (var j = 0; j < indexes.Count; j++)
                {
                    data[indexes[j]] = values[j];
                    if (epochs is not null)
                    {
                        epochs[indexes[j]] = values[indexes.Count + j];
                    }
                }
            }
        }

        foreach (var i in plain)
        {
            var key = keys[i].Key;
            long? epoch = epochs is null ? null : ReadEpoch(_keys.Epoch(key), epochs[i]);
            results[i] = await JudgeReply(key, data[i], epoch, epochOnMiss: false, keepStale: true, cancellationToken).ConfigureAwait(false);
        }

        for (var i = 0; i < keys.Count; i++)
        {
            if (versioned[i] is { } single)
            {
                results[i] = await single.ConfigureAwait(false);
            }
        }

        return results;
    }

    /// <summary>Whether one multi-key command may span Cluster slots; false once the client refused one (then one per slot).</summary>
    private volatile bool _multiKeyAcrossSlots = true;

    /// <summary>
    /// A cluster's client refuses keys of several slots in one command (before sending it): from then on, one command per
    /// slot. True when this was that refusal, seen for the first time (the batch is then sent again).
    /// </summary>
    private bool RefusedAcrossSlots(Exception ex)
    {
        if (ex is not RedisCommandException || !_multiKeyAcrossSlots)
        {
            return false;
        }

        _multiKeyAcrossSlots = false;
        return true;
    }

    /// <summary>
    /// How a batch's multi-key commands are split: all of <paramref name="indexes"/> in one, or (once the client refused a
    /// cross-slot command) one group for each Cluster slot, by the slot of <paramref name="keyOf"/> (every Redis key of one
    /// cache key shares its slot); and no group over <see cref="CoherentRedisOptions.MaxKeysPerBatch"/> keys (a larger
    /// batch is split, never refused). One home for the batch read, the batch lease and the batch store.
    /// </summary>
    private List<List<int>> SlotGroups(List<int> indexes, Func<int, RedisKey> keyOf)
    {
        if (indexes.Count == 0)
        {
            return [];
        }

        var max = _options.MaxKeysPerBatch;
        List<List<int>> groups = _multiKeyAcrossSlots ? [indexes] : [.. indexes.GroupBy(i => _connection.HashSlot(keyOf(i))).Select(g => g.ToList())];
        return groups.All(g => g.Count <= max) ? groups : [.. groups.SelectMany(g => g.Chunk(max)).Select(c => c.ToList())];
    }

    private List<List<int>> SlotGroups(int count, Func<int, RedisKey> keyOf) => SlotGroups([.. Enumerable.Range(0, count)], keyOf);

    /// <summary>A batch's commands (one per slot group) awaited as one Redis call: bounded, counted by the breaker.</summary>
    private async Task AwaitAllAsync<T>(List<(List<int> Indexes, Task<T> Call)> calls, CancellationToken cancellationToken)
    {
        if (calls.Count == 1)
        {
            await CallAsync(calls[0].Call, cancellationToken).ConfigureAwait(false);
        }
        else if (calls.Count > 1)
        {
            await CallAsync(Task.WhenAll(calls.Select(c => c.Call)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The MGETs for the plain keys: their data keys, then (signed) their epoch keys, which share each key's slot.</summary>
    private List<(List<int> Indexes, Task<RedisValue[]> Call)> StartGets(IReadOnlyList<SharedTierKey> keys, List<int> plain)
    {
        var groups = SlotGroups(plain, i => _keys.Data(keys[i].Key));
        var calls = new List<(List<int>, Task<RedisValue[]>)>(groups.Count);
        foreach (var group in groups)
        {
            var names = new RedisKey[group.Count * (_signingKey is null ? 1 : 2)];
            for (var j = 0; j < group.Count; j++)
            {
                names[j] = _keys.Data(keys[group[j]].Key);
                if (_signingKey is not null)
                {
                    names[group.Count + j] = _keys.Epoch(keys[group[j]].Key);
                }
            }

            calls.Add((group, _db.StringGetAsync(names)));
        }

        return calls;
    }

    /// <summary>The batch's plain reads failed together: each is Unavailable (logged once); versioned reads still answer on their own.</summary>
    private async ValueTask<IReadOnlyList<SharedTierRead>> AllFailedAsync(IReadOnlyList<SharedTierKey> keys, SharedTierRead[] results, Task<SharedTierRead>?[] versioned, List<Task> calls, Exception ex)
    {
        ReadFailed(keys[0].Key, calls.Count > 0 ? Task.WhenAll(calls) : null, ex);
        for (var i = 0; i < keys.Count; i++)
        {
            results[i] = versioned[i] is { } single ? await single.ConfigureAwait(false) : SharedTierRead.Unavailable;
        }

        return results;
    }
}
