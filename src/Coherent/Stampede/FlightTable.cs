using System.Collections.Concurrent;

namespace Coherent.Stampede;

/// <summary>The flights in progress, by key.</summary>
internal sealed class FlightTable
{
    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);

    public int Count => _flights.Count;

    /// <summary>Joins the key's flight, or registers <paramref name="candidate"/> as the new one. Returns the flight and whether the caller owns it.</summary>
    public (Flight Flight, bool Owner) JoinOrStart(string key, Func<Flight> candidate)
    {
        while (true)
        {
            if (_flights.TryGetValue(key, out var existing))
            {
                return (existing, false);
            }

            var created = candidate();
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
