using System.Collections.Concurrent;

namespace Coherent.Stampede;

/// <summary>The flights in progress, by key.</summary>
internal sealed class FlightTable
{
    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);

    public int Count => _flights.Count;

    /// <summary>
    /// Joins the key's flight, or registers <paramref name="candidate"/> as the new one. Returns the flight and whether the
    /// caller owns it. A flight whose result a new caller may not see (<see cref="Flight.IsStaleFor"/>: invalidated, cleared or
    /// abandoned since it began) is replaced, not joined; it stays fenced, finishes for its own callers and stores nothing.
    /// </summary>
    /// <param name="key">The cache key.</param>
    /// <param name="candidate">Builds the new flight from the key and <paramref name="clearVersion"/> (static: no closure per miss).</param>
    /// <param name="clearVersion">The clear version the caller started from.</param>
    public (Flight Flight, bool Owner) JoinOrStart(string key, Func<string, long, Flight> candidate, long clearVersion)
    {
        while (true)
        {
            if (_flights.TryGetValue(key, out var existing))
            {
                // A run that has finished but not yet left the table is not joined either: its outcome is already given out
                // (a failure joined here would be a cached exception; a value it stored is in L1 for the next caller).
                if (!existing.IsStaleFor(clearVersion) && !existing.Task.IsCompleted)
                {
                    return (existing, false);
                }

                var replacement = candidate(key, clearVersion);
                if (_flights.TryUpdate(key, replacement, existing))
                {
                    existing.Fence(); // out of the table, an invalidation can no longer find it: it must not store
                    return (replacement, true);
                }

                continue;
            }

            var created = candidate(key, clearVersion);
            if (_flights.TryAdd(key, created))
            {
                return (created, true);
            }
        }
    }

    public bool TryGet(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Flight flight) => _flights.TryGetValue(key, out flight);

    public void Remove(Flight flight) => _flights.TryRemove(new KeyValuePair<string, Flight>(flight.Key, flight));

    public void FenceAll()
    {
        foreach (var flight in _flights.Values)
        {
            flight.Fence();
        }
    }
}
