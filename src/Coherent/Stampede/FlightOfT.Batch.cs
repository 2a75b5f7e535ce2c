using Coherent.Engine;
using Coherent.Invalidation;
using Coherent.SharedTier;

namespace Coherent.Stampede;

/// <summary>
/// Step 1 for the flights of a bulk call: one shared read answers them all (<see cref="ReadAllThenRunAsync"/>), instead of
/// each flight issuing and awaiting its own. Each flight still takes the gate's snapshot before the read, fills L1 through
/// the gate with the same ticket rule, and goes on to the lease, factory and fenced store on its own when it missed: only
/// the read is shared, never a judgement.
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

            try
            {
                beforeContinuing(missed);
            }
            catch (Exception ex)
            {
                foreach (var flight in missed)
                {
                    flight.FailAndLeave(ex);
                }

                return;
            }

            for (var i = 0; i < missed.Count; i++)
            {
                _ = missed[i].RunPastReadAsync(outcomes[i], refreshing: null, afterFill: false);
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
