namespace Coherent.SharedTier;

/// <summary>
/// The bulk steps of the contract (<c>GetOrSetManyAsync</c>): a read, a lease and a store for many keys at once. Each is,
/// key by key, exactly its single-key step — the same answers, the same fencing — so a backend may leave them to the
/// defaults, which issue the single steps together (a pipelining client sends them as one batch), and override them when
/// it can do better: one command, one deadline, one script for the batch.
/// </summary>
public partial interface ISharedTier
{
    /// <summary>
    /// Reads several keys for a bulk call: the answers in the order of <paramref name="keys"/>, each what
    /// <see cref="ReadForLeaseAsync"/> would answer for its key. The default issues every read before awaiting any.
    /// </summary>
    async ValueTask<IReadOnlyList<SharedTierRead>> ReadManyAsync(IReadOnlyList<SharedTierKey> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var pending = new ValueTask<SharedTierRead>[keys.Count];
        for (var i = 0; i < pending.Length; i++)
        {
#pragma warning disable CA2012 // each is awaited exactly once, below: issued first so they leave together
            pending[i] = ReadForLeaseAsync(keys[i], cancellationToken);
#pragma warning restore CA2012
        }

        var results = new SharedTierRead[pending.Length];
        for (var i = 0; i < pending.Length; i++)
        {
            results[i] = await pending[i].ConfigureAwait(false);
        }

        return results;
    }

    /// <summary>
    /// Tries to take the fleet lease of several keys (a bulk call's misses): in the order of <paramref name="keys"/>, each
    /// what <see cref="TryAcquireLeaseAsync"/> would answer — a lease, or null when another node holds it. All or nothing on
    /// failure: it throws when the backend failed, and then no key of the batch holds a lease (the default releases those it
    /// took before rethrowing the first failure).
    /// </summary>
    async ValueTask<IReadOnlyList<SharedTierLease?>> TryAcquireLeasesAsync(IReadOnlyList<string> keys, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var pending = new Task<SharedTierLease?>[keys.Count];
        for (var i = 0; i < pending.Length; i++)
        {
            pending[i] = TryAcquireLeaseAsync(keys[i], leaseTime, cancellationToken).AsTask();
        }

        try
        {
            return await Task.WhenAll(pending).ConfigureAwait(false);
        }
        catch
        {
            foreach (var taken in pending)
            {
                if (taken.IsCompletedSuccessfully && taken.Result is { } lease)
                {
                    try
                    {
                        await ReleaseLeaseAsync(lease, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // It expires by itself after its lease time; the batch's own failure is the one to report.
                    }
                }
            }

            throw;
        }
    }

    /// <summary>
    /// Stores several computed values, each as <see cref="StoreIfEpochAsync"/> would: only if its key's epoch still equals
    /// <see cref="SharedTierFill.ExpectedEpoch"/>, releasing its lease and announcing its fill. The answers in the order of
    /// <paramref name="fills"/>: true when stored, false when fenced out. It throws when the backend failed; the engine then
    /// treats every fill of the batch as a failed single store (kept in this node's L1 only). The default issues every store
    /// before awaiting any, and throws the first failure once all have ended.
    /// </summary>
    async ValueTask<IReadOnlyList<bool>> StoreManyIfEpochAsync(IReadOnlyList<SharedTierFill> fills, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fills);
        var pending = new Task<bool>[fills.Count];
        for (var i = 0; i < pending.Length; i++)
        {
            var fill = fills[i];
            pending[i] = StoreIfEpochAsync(fill.Key, fill.Entry, fill.ExpectedEpoch, fill.Lease, cancellationToken).AsTask();
        }

        return await Task.WhenAll(pending).ConfigureAwait(false);
    }
}

/// <summary>One computed value of a bulk store (<see cref="ISharedTier.StoreManyIfEpochAsync"/>).</summary>
/// <param name="Key">The key and its family.</param>
/// <param name="Entry">The entry to store.</param>
/// <param name="ExpectedEpoch">The key's epoch read before computing: the store happens only if it still holds.</param>
/// <param name="Lease">The lease taken for the computation, released by the store; null when none was taken.</param>
public readonly record struct SharedTierFill(SharedTierKey Key, SharedTierEntry Entry, long ExpectedEpoch, SharedTierLease? Lease);
