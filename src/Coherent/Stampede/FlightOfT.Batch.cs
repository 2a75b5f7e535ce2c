using Coherent.Engine;
using Coherent.Invalidation;
using Coherent.Local;
using Coherent.SharedTier;

namespace Coherent.Stampede;

/// <summary>
/// Steps 1 and 2 for the flights of a bulk call: one shared read answers them all (<see cref="ReadAllThenRunAsync"/>), and
/// one lease call takes the misses' leases, instead of each flight issuing and awaiting its own; their stores leave
/// together too (<see cref="SharedStoreRound"/>). Each flight still takes the gate's snapshot before the read, fills L1
/// through the gate with the same ticket rule, and goes on to the factory and its fenced store on its own: only the calls
/// are shared, never a judgement.
/// </summary>
internal sealed partial class Flight<TState, T>
{
    /// <summary>
    /// Reads every flight's key in one <see cref="ISharedTier.ReadManyAsync"/>, completes the flights that hit, and hands
    /// the flights that did not to <paramref name="beforeContinuing"/> (called exactly once; with none when the batch
    /// failed), then each to its pipeline's next step. The flights are new, owned by the caller and not started. Never
    /// throws: a failure fails the flights it left unfinished, so no waiter waits forever.
    /// </summary>
    public static async Task ReadAllThenRunAsync(CoherentCache cache, SharedTierClient client, List<Flight<TState, T>> flights, Action<List<Flight<TState, T>>> beforeContinuing)
    {
        var settled = 0;
        try
        {
            var keys = new SharedTierKey[flights.Count];
            for (var i = 0; i < keys.Length; i++)
            {
                var flight = flights[i];
                cache.Gate.SnapshotFor(flight, flight._options?.Tags);
                keys[i] = new SharedTierKey(flight.Key, flight._family.Name);
            }

            var ticket = cache.Gate.BeginSharedRead();
            var startedAtMs = cache.Clock.PreciseNowMs();
            var results = await client.ReadManyAsync(keys).ConfigureAwait(false);

            var missed = new List<Flight<TState, T>>();
            var outcomes = new List<SharedOutcome>();
            for (; settled < flights.Count; settled++)
            {
                var flight = flights[settled];
                if (flight.TryCompleteFromRead(results[settled], ticket, startedAtMs) is { } read)
                {
                    missed.Add(flight);
                    outcomes.Add(read);
                }
            }

            (SharedTierLease? Lease, bool Failed)?[]? leases = null;
            SharedTierVersions? versions;
            try
            {
                leases = await LeaseAllAsync(client, missed, outcomes).ConfigureAwait(false);

                // The versions every fill of the batch is stamped with, read once after the leases and before any factory (the
                // flights share their options, so their tags): what each flight's own capture would have read, at that moment.
                versions = leases.Any(l => l is not null)
                    ? await client.CaptureVersionsAsync(missed[0].Key, missed[0]._options?.Tags, CancellationToken.None).ConfigureAwait(false)
                    : null;
            }
            catch (Exception ex)
            {
                // As a single flight fails when its own lease or version step throws, then hands back a lease it took; the read's
                // hold on the batch ends too.
                FailAllAndLeave(missed, ex);
                beforeContinuing([]);
                foreach (var answer in leases ?? [])
                {
                    if (answer?.Lease is { } taken)
                    {
                        await client.ReleaseLeaseQuietlyAsync(taken).ConfigureAwait(false);
                    }
                }

                return;
            }

            try
            {
                beforeContinuing(missed);
            }
            catch (Exception ex)
            {
                FailAllAndLeave(missed, ex);
                return;
            }

            for (var i = 0; i < missed.Count; i++)
            {
                _ = missed[i].RunPastReadAsync(outcomes[i], refreshing: null, afterFill: false, leases[i] is { } lease ? new BatchSteps(lease, versions) : null);
            }
        }
        catch (Exception ex)
        {
            for (; settled < flights.Count; settled++)
            {
                flights[settled].FailAndLeave(ex);
            }

            beforeContinuing([]);
        }
    }

    private static void FailAllAndLeave(List<Flight<TState, T>> flights, Exception ex)
    {
        foreach (var flight in flights)
        {
            flight.FailAndLeave(ex);
        }
    }

    /// <summary>
    /// The lease step of every flight that missed and can store (one call for each lease time, usually one for the batch):
    /// each answer is what the flight's own lease call would have been; null where the flight needs none (the tier is down).
    /// </summary>
    private static async ValueTask<(SharedTierLease? Lease, bool Failed)?[]> LeaseAllAsync(SharedTierClient client, List<Flight<TState, T>> missed, List<SharedOutcome> outcomes)
    {
        var answers = new (SharedTierLease? Lease, bool Failed)?[missed.Count];
        var byLeaseTime = Enumerable.Range(0, missed.Count)
            .Where(i => outcomes[i].Standing != SharedStanding.Down)
            .GroupBy(i => SharedTierClient.LeaseTimeFor(missed[i]._family));
        foreach (var group in byLeaseTime)
        {
            var indexes = group.ToArray();
            var leases = await client.TryAcquireLeasesAsync([.. indexes.Select(i => missed[i].Key)], group.Key).ConfigureAwait(false);
            for (var j = 0; j < indexes.Length; j++)
            {
                answers[indexes[j]] = leases is null ? (null, true) : (leases[j], false);
            }
        }

        return answers;
    }

    /// <summary>
    /// A bulk call's lease and version steps, taken once for all its flights: the flight's lease answer, and the versions read
    /// for the batch (null: they could not be read, and the fill stays local, as after a failed capture of its own).
    /// </summary>
    private readonly record struct BatchSteps((SharedTierLease? Lease, bool Failed) Lease, SharedTierVersions? Versions);

    /// <summary>The fenced shared store: with the rest of its bulk round when the flight is a member of one, on its own otherwise.</summary>
    private ValueTask<bool> StoreSharedAsync(SharedTierClient client, CacheEntry entry, byte[] payload, in SharedOutcome shared, SharedTierVersions versions) =>
        RoundMember?.TakeStoreRound() is { } round
            ? new ValueTask<bool>(round.StoreAsync(entry, payload, _options, shared.Epoch, versions, shared.Lease))
            : client.StoreIfEpochAsync(entry, payload, _options, shared.Epoch, versions, shared.Lease);

    /// <summary>The flight's state as a member of a bulk round's shared store; null for any other flight (a JIT-time constant for a value-type state).</summary>
    private IStoreRoundMember? RoundMember => typeof(TState).IsValueType ? null : _state as IStoreRoundMember;

    /// <summary>The caller's state the flight runs its factory with (a bulk call's key).</summary>
    public TState State => _state;

    /// <summary>
    /// A batched read's answer for this flight: a hit completes it (null); anything else is the outcome its pipeline goes on
    /// with. A failure here fails the flight (null).
    /// </summary>
    private SharedOutcome? TryCompleteFromRead(in SharedTierRead result, in SharedReadTicket ticket, long startedAtMs)
    {
        try
        {
            var read = ToOutcome(result, ticket, startedAtMs);
            if (read.Served is not { } served || read.Entry is null)
            {
                return read;
            }

            Complete(served);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }

        Gate.Remove(this);
        return null;
    }
}
