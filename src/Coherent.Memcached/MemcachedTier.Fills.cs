using Coherent.Memcached.Protocol;
using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// Fenced fills. A fill stores only while its key's CAS is the one its read saw (<c>ms … C&lt;cas&gt;</c>): an invalidation
/// deletes the item and a write-through or another fill changes its CAS, so a fill computed before either fails. Its store
/// also ends its lease: the placeholder (or refreshed, or kept value) whose CAS fenced it is what it overwrites. A bulk
/// call's fills are sent together: each step one batch per server, all servers at once — the fenced <c>ms</c> of plain
/// keys and the new versions of versioned keys first, then the versioned keys' fenced pointer moves (so a reader that
/// follows a pointer never finds a half-written value), then each versioned key's settling. The single store is a batch of
/// one, so the rule has one home. Each key's answer is its own: a server that fails (or a fill that cannot be prepared)
/// answers true for its keys — kept in this node's L1 only, the next miss refills Memcached — and the others still store.
/// </summary>
internal sealed partial class MemcachedTier
{
    public async ValueTask<bool> StoreIfEpochAsync(SharedTierKey sharedKey, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease, CancellationToken cancellationToken) =>
        (await StoreManyIfEpochAsync([new SharedTierFill(sharedKey, entry, expectedEpoch, lease)], cancellationToken).ConfigureAwait(false))[0];

    public async ValueTask<IReadOnlyList<bool>> StoreManyIfEpochAsync(IReadOnlyList<SharedTierFill> fills, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fills);
        var stored = new bool[fills.Count];
        var plans = new FillPlan?[fills.Count];
        var preparing = new ValueTask<(bool Answer, FillPlan? Plan)>[fills.Count];
        for (var i = 0; i < fills.Count; i++)
        {
#pragma warning disable CA2012 // each is awaited exactly once, below: an oversized fill's lease release need not wait for the others
            preparing[i] = PrepareFillAsync(fills[i], cancellationToken);
#pragma warning restore CA2012
        }

        for (var i = 0; i < fills.Count; i++)
        {
            (stored[i], plans[i]) = await preparing[i].ConfigureAwait(false);
        }

        // First step: a plain key's fenced store, a versioned key's new version (written unconditionally: it is fresh).
        foreach (var (i, outcome) in await SendFillStepAsync(plans, pointers: false, cancellationToken).ConfigureAwait(false))
        {
            var plan = plans[i]!;
            if (outcome.Failure is { } failure)
            {
                (stored[i], plans[i]) = (StoreFailed(plan.Key, failure), null);
            }
            else if (plan.Pointer is null)
            {
                (stored[i], plans[i]) = (outcome.Value == StoreOutcome.Stored, null);
            }
        }

        // Second step, versioned keys whose version landed: the pointer, fenced by the CAS as a plain key's value is.
        var settling = new List<ValueTask>();
        foreach (var (i, outcome) in await SendFillStepAsync(plans, pointers: true, cancellationToken).ConfigureAwait(false))
        {
            var plan = plans[i]!;
            if (outcome.Failure is { } failure)
            {
                stored[i] = StoreFailed(plan.Key, failure); // its version stays unnamed and expires with its TTL
                continue;
            }

            stored[i] = outcome.Value == StoreOutcome.Stored;
#pragma warning disable CA2012 // each is awaited exactly once, below: the settlings of the batch's keys leave together
            settling.Add(SettleVersionedFillAsync(plan.Key, plan.Version, plan.Epoch, outcome.Value));
#pragma warning restore CA2012
        }

        foreach (var settled in settling)
        {
            await settled.ConfigureAwait(false); // best effort: never throws
        }

        return stored;
    }

    /// <summary>
    /// A fill made into its requests, before anything is sent: none (false) when no CAS can fence it — none read, or one from
    /// another server or from before its server went down — and none (true: kept in L1 only, its lease released so the
    /// waiters compute their own) when it is over Memcached's item limit or cannot be prepared.
    /// </summary>
    private async ValueTask<(bool Answer, FillPlan? Plan)> PrepareFillAsync(SharedTierFill fill, CancellationToken cancellationToken)
    {
        var (sharedKey, entry, expectedEpoch, lease) = fill;
        var key = sharedKey.Key;
        _won.TryRemove(key, out _);
        try
        {
            if (expectedEpoch <= 0 || !TryOpen(key, expectedEpoch, out var cas))
            {
                return (false, null);
            }

            try
            {
                var envelope = await EnvelopeAsync(key, entry, expectedEpoch, cancellationToken).ConfigureAwait(false);
                var ttl = StorageTtl(entry);
                if (!IsVersioned(sharedKey))
                {
                    return (false, new FillPlan(key, expectedEpoch, _store.StoreRequest(key, envelope, ttl, cas), null, 0));
                }

                var version = VersionPointer.NewVersion();
                return (false, new FillPlan(key, expectedEpoch, _store.VersionedDataRequest(key, version, envelope, ttl),
                    _store.StoreRequest(key, VersionPointer.Write(version), ttl, cas), version));
            }
            catch (PayloadTooLargeException)
            {
                // Over Memcached's item limit (not the cache's), refused before anything was sent.
                MemcachedLog.OversizedFill(_logger, key, entry.Payload.Length, _store.MaxItemBytes);
                if (lease is not null)
                {
                    await ReleaseLeaseAsync(lease, cancellationToken).ConfigureAwait(false);
                }

                return (true, null);
            }
        }
        catch (Exception ex) when (ex is MemcachedException or CoherentException or ObjectDisposedException)
        {
            return (StoreFailed(key, ex), null);
        }
    }

    /// <summary>
    /// Sends one step of the fills still under way — their first requests, or (<paramref name="pointers"/>) the versioned
    /// keys' pointers — one batch per server, and answers each, by its fill's index, as its single request is judged (a
    /// fenced store's <see cref="MemcachedStore.StoreOutcomeOf"/>, a fresh version's <see cref="MemcachedStore.VersionedDataStored"/>)
    /// or with its server's failure.
    /// </summary>
    private async ValueTask<List<(int Index, Answer<StoreOutcome> Outcome)>> SendFillStepAsync(FillPlan?[] plans, bool pointers, CancellationToken cancellationToken)
    {
        var sent = new List<(int Index, MetaRequest Request, bool Fenced)>();
        for (var i = 0; i < plans.Length; i++)
        {
            if (plans[i] is not { } plan)
            {
                continue;
            }

            if (!pointers)
            {
                sent.Add((i, plan.First, Fenced: plan.Pointer is null));
            }
            else if (plan.Pointer is { } pointer)
            {
                sent.Add((i, pointer, Fenced: true));
            }
        }

        if (sent.Count == 0)
        {
            return [];
        }

        var answers = await _store.SendEachAsync(
            [.. sent.Select(s => s.Request)],
            (j, response) => sent[j].Fenced ? MemcachedStore.StoreOutcomeOf(response) : MemcachedStore.VersionedDataStored(response),
            cancellationToken).ConfigureAwait(false);
        var outcomes = new List<(int, Answer<StoreOutcome>)>(sent.Count);
        for (var j = 0; j < sent.Count; j++)
        {
            outcomes.Add((sent[j].Index, answers[j]));
        }

        return outcomes;
    }

    /// <summary>A store that did not happen for trouble, not for a fence: logged, and answered true (the value stays in this node's L1).</summary>
    private bool StoreFailed(string key, Exception failure)
    {
        MemcachedLog.StoreFailed(_logger, key, failure);
        return true;
    }

    /// <summary>
    /// A fill's requests: a plain key's one fenced store (<see cref="First"/>); a versioned key's new version
    /// (<see cref="First"/>), then its fenced pointer (<see cref="Pointer"/>) naming <see cref="Version"/>.
    /// </summary>
    private sealed record FillPlan(string Key, long Epoch, MetaRequest First, MetaRequest? Pointer, ulong Version);
}
