using System.Collections.Concurrent;

namespace Coherent.Stampede;

/// <summary>
/// The flights in progress, by key. Only a map: who may join a flight, and when one is replaced and fenced, is
/// <see cref="Invalidation.InvalidationGate.JoinOrStart{TArg}"/>'s decision.
/// </summary>
internal sealed class FlightTable
{
    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);

    public int Count => _flights.Count;

    public IEnumerable<Flight> All => _flights.Values;

    public bool TryGet(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Flight flight) => _flights.TryGetValue(key, out flight);

    public bool TryAdd(Flight flight) => _flights.TryAdd(flight.Key, flight);

    /// <summary>Puts <paramref name="replacement"/> in the place of <paramref name="existing"/>, if that is still the key's flight.</summary>
    public bool TryReplace(Flight existing, Flight replacement) => _flights.TryUpdate(existing.Key, replacement, existing);

    /// <summary>Removes this exact flight: a replacement registered meanwhile stays.</summary>
    public void Remove(Flight flight) => _flights.TryRemove(new KeyValuePair<string, Flight>(flight.Key, flight));
}
