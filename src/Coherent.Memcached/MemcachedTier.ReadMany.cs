using Coherent.Memcached.Protocol;
using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// A bulk call's reads. The first round trip of every key's read — its entry (<c>mg … N</c>) and the counters it is judged
/// with (the clear counter and its guessed tags, each asked once for the whole batch) — goes out as one batch per server,
/// all servers at once (one write and one deadline per server), instead of one batch per key. Each key's answer is then
/// judged by the single read itself (<see cref="ReadAsync(string, bool, bool, FirstRead?, CancellationToken)"/>, handed
/// that first step), which follows up on its own where a single read would: a versioned key's version, a tag the guess
/// missed, an unusable value removed and read again. A server that fails answers Unavailable for the keys it held or whose
/// counters it held, as their single reads would; the others still answer.
/// </summary>
internal sealed partial class MemcachedTier
{
    public async ValueTask<IReadOnlyList<SharedTierRead>> ReadManyAsync(IReadOnlyList<SharedTierKey> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var results = new SharedTierRead[keys.Count]; // default: Unavailable
        if (keys.Count == 0)
        {
            return results;
        }

        var planned = new Planned?[keys.Count];
        var sent = new List<(byte[] KeyUtf8, byte[] WireKey)>(keys.Count);
        var counters = new List<VersionKey>();
        var counterIndex = new Dictionary<VersionKey, int>();
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i].Key;
            try
            {
                var keyUtf8 = MemcachedKey.Utf8(key);
                var wireKey = _store.DataKey(keyUtf8);
                var owner = Owner(wireKey); // before the counters are listed: a key no server takes asks for none
                var asked = VersionsToAsk(key);
                var counterAt = new int[asked.Length];
                for (var v = 0; v < asked.Length; v++)
                {
                    if (!counterIndex.TryGetValue(asked[v], out counterAt[v]))
                    {
                        counterAt[v] = counterIndex[asked[v]] = counters.Count;
                        counters.Add(asked[v]);
                    }
                }

                planned[i] = new Planned(keyUtf8, wireKey, asked, counterAt, owner, sent.Count);
                sent.Add((keyUtf8, wireKey));
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                MemcachedLog.ReadFailed(_logger, key, ex); // every server down, or a key whose single read fails alike: Unavailable
            }
        }

        if (sent.Count == 0)
        {
            return results;
        }

        Answer<LeaseRead>[] entries;
        Answer<ulong>[] versions;
        try
        {
            (entries, versions) = await _store.ReadManyWithVersionsAsync(sent, ReadLease(true), counters, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            MemcachedLog.ReadFailed(_logger, keys[0].Key, ex); // each server's failure is its keys' answer: this one is no server's
            return results;
        }

        var judging = new ValueTask<SharedTierRead>?[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            if (planned[i] is not { } plan)
            {
                continue;
            }

            var entry = entries[plan.Sent];
            var failure = entry.Failure;
            var values = new ulong[plan.Asked.Length];
            for (var v = 0; v < values.Length && failure is null; v++)
            {
                (values[v], failure) = versions[plan.CounterAt[v]];
            }

            if (failure is not null)
            {
                MemcachedLog.ReadFailed(_logger, keys[i].Key, failure);
                continue;
            }

            var first = new FirstRead(plan.KeyUtf8, plan.WireKey, new ReadWithVersions(entry.Value, values), plan.Asked, plan.Owner);
#pragma warning disable CA2012 // each is awaited exactly once, below: started first so that their follow-ups leave together
            judging[i] = ReadAsync(keys[i].Key, IsVersioned(keys[i]), lease: true, first, cancellationToken);
#pragma warning restore CA2012
        }

        for (var i = 0; i < keys.Count; i++)
        {
            if (judging[i] is { } judged)
            {
                results[i] = await judged.ConfigureAwait(false);
            }
        }

        return results;
    }

    /// <summary>
    /// A key of the batch as sent: its encodings, the counters it asked for (and where each is in the batch's deduplicated
    /// list), where it lived when sent, and its place among the entries sent.
    /// </summary>
    private readonly record struct Planned(byte[] KeyUtf8, byte[] WireKey, VersionKey[] Asked, int[] CounterAt, (int Server, int Generation) Owner, int Sent);
}
