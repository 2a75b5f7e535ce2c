using Coherent.Redis.Storage;
using Coherent.SharedTier;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>
/// Fenced fills. One script stores a batch (one per Cluster slot once the client refused a cross-slot one): each key only
/// if its epoch still equals the one read before computing, its lease released, its fill announced — the single store is
/// a batch of one, so the rule has one home (store.lua).
/// </summary>
internal sealed partial class RedisTier
{
    public async ValueTask<bool> StoreIfEpochAsync(SharedTierKey sharedKey, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease, CancellationToken cancellationToken) =>
        (await StoreManyIfEpochAsync([new SharedTierFill(sharedKey, entry, expectedEpoch, lease)], cancellationToken).ConfigureAwait(false))[0];

    public async ValueTask<IReadOnlyList<bool>> StoreManyIfEpochAsync(IReadOnlyList<SharedTierFill> fills, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fills);
        var stored = new bool[fills.Count];
        if (_breaker.IsOpen)
        {
            Array.Fill(stored, true); // cannot fence or store: keep the values locally only (the engine's L1 is still fenced locally)
            return stored;
        }

        var sendable = new List<int>(fills.Count);
        for (var i = 0; i < fills.Count; i++)
        {
            var (key, entry, _, lease) = fills[i];
            if (entry.Payload.Length <= _maxPayloadBytes)
            {
                sendable.Add(i);
                continue;
            }

            // Over Redis's payload limit (not the cache's): keep it in this node's L1 only and let the waiters compute.
            RedisLog.OversizedFill(_logger, key.Key, entry.Payload.Length, _maxPayloadBytes);
            stored[i] = true;
            if (lease is not null)
            {
                await ReleaseLeaseAsync(lease, cancellationToken).ConfigureAwait(false);
            }
        }

        if (sendable.Count == 0)
        {
            return stored;
        }

        await EnsureVersionsLoadedAsync(cancellationToken).ConfigureAwait(false);
        var prepared = new FillArgs[fills.Count];
        foreach (var i in sendable)
        {
            var (key, entry, expectedEpoch, lease) = fills[i];
            var envelope = await BuildEnvelopeAsync(key.Key, entry, expectedEpoch, cancellationToken).ConfigureAwait(false);
            prepared[i] = FillArgsFor(key.Key, IsVersioned(key), expectedEpoch, envelope, TtlMs(entry), lease?.Token);
        }

        var calls = new List<(List<int> Indexes, Task<RedisResult> Call)>();
        try
        {
            foreach (var group in SlotGroups(sendable, i => _keys.Epoch(fills[i].Key.Key)))
            {
                calls.Add((group, SendFills(prepared, group)));
            }

            await AwaitAllAsync(calls, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (RefusedAcrossSlots(ex))
        {
            return await StoreManyIfEpochAsync(fills, cancellationToken).ConfigureAwait(false); // nothing was sent
        }

        foreach (var (indexes, call) in calls)
        {
            var flags = (RedisResult[])call.Result!;
            for (var j = 0; j < indexes.Count; j++)
            {
                stored[indexes[j]] = (long)flags[j] == 1;
            }
        }

        return stored;
    }

    /// <summary>One key's part of store.lua's KEYS and ARGV.</summary>
    private readonly record struct FillArgs(RedisKey Data, RedisKey Epoch, RedisKey Lease, RedisValue ExpectedEpoch, RedisValue Envelope, long TtlMs, RedisValue LeaseToken, RedisValue FillFrame, RedisValue VersionBase);

    private FillArgs FillArgsFor(string key, bool versioned, long expectedEpoch, byte[] envelope, long ttlMs, string? leaseToken) =>
        new(versioned ? _keys.Pointer(key) : _keys.Data(key), _keys.Epoch(key), _keys.Lease(key), expectedEpoch, envelope, ttlMs,
            leaseToken ?? "", StartedBus.FillFrame(key), versioned ? _keys.VersionBase(key) : "");

    /// <summary>store.lua for the fills at <paramref name="indexes"/> of <paramref name="fills"/>: 3 keys and 6 arguments each.</summary>
    private Task<RedisResult> SendFills(FillArgs[] fills, List<int> indexes)
    {
        var keys = new RedisKey[3 * indexes.Count];
        var args = new RedisValue[1 + 6 * indexes.Count];
        args[0] = _keys.Channel.ToString();
        for (var j = 0; j < indexes.Count; j++)
        {
            var fill = fills[indexes[j]];
            (keys[3 * j], keys[3 * j + 1], keys[3 * j + 2]) = (fill.Data, fill.Epoch, fill.Lease);
            var a = 1 + 6 * j;
            (args[a], args[a + 1], args[a + 2], args[a + 3], args[a + 4], args[a + 5]) = (fill.ExpectedEpoch, fill.Envelope, fill.TtlMs, fill.LeaseToken, fill.FillFrame, fill.VersionBase);
        }

        return Evaluate(Scripts.Store, keys, args);
    }
}
