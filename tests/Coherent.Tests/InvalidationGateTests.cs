using Coherent.Local;
using Coherent.Stampede;

namespace Coherent.Tests;

/// <summary>
/// The gate's decisions, one by one: it is the only place that lets a value into L1 or L2, so each rule that keeps a value
/// computed or read before an invalidation out of the tiers is checked here at its home (the fleet-level tests and the
/// history proof check the same rules end to end).
/// </summary>
public sealed class InvalidationGateTests
{
    private static CoherentCache NewCache() => new CoherentCacheBuilder().WithName($"gate-{Guid.NewGuid():N}").Build();

    private static (Flight Flight, CacheEntry Entry) Run(CoherentCache cache, string key, IReadOnlyList<string>? tags = null)
    {
        var gate = cache.Diagnostics.Gate;
        var flight = new Flight(key, gate.ClearVersion, owned: true);
        var (states, stamps) = gate.SnapshotFor(flight, tags);
        var now = cache.Clock.PreciseNowMs();
        var (entry, _) = cache.Entries.Create(key, cache.Families.Resolve(key), "computed", now, now, 0, null, states, stamps, flight.ClearStamp, 0);
        return (flight, entry);
    }

    [Fact]
    public async Task A_computed_value_whose_key_was_invalidated_during_its_run_enters_neither_tier()
    {
        await using var cache = NewCache();
        var gate = cache.Diagnostics.Gate;
        var (flight, entry) = Run(cache, "price:1");
        Assert.True(gate.Flights.TryAdd(flight));

        gate.FenceAndDrop("price:1"); // what InvalidateAsync and a bus invalidation do

        Assert.False(gate.MayStore(flight, entry));
        gate.TryStoreComputed(flight, entry);
        Assert.False(cache.Diagnostics.HasLocal("price:1"));
    }

    [Fact]
    public async Task A_computed_value_whose_tag_was_invalidated_during_its_run_is_not_current_after_the_shared_store()
    {
        await using var cache = NewCache();
        var gate = cache.Diagnostics.Gate;
        var (flight, entry) = Run(cache, "price:1", ["catalog"]);
        Assert.True(gate.MayStore(flight, entry));

        gate.OnRemoteTagInvalidated("catalog"); // lands while the value is on its way to L2

        Assert.False(gate.StillCurrentAfterSharedStore(flight, entry)); // the flight voids the shared copy
    }

    [Fact]
    public async Task A_running_flight_is_not_joined_by_a_caller_after_a_clear()
    {
        await using var cache = NewCache();
        var gate = cache.Diagnostics.Gate;
        var create = static (string k, long c, int _) => new Flight(k, c, owned: true);
        var (first, _) = gate.JoinOrStart("price:1", create, 0, asWaiter: true);

        gate.OnRemoteCleared();

        var (second, owner) = gate.JoinOrStart("price:1", create, 0, asWaiter: true);
        Assert.True(owner, "a caller after the clear joined a run that began before it");
        Assert.NotSame(first, second);
        Assert.True(first.Fenced);
    }

    [Fact]
    public async Task An_L2_read_overlapping_a_tag_invalidation_is_served_but_does_not_fill_L1()
    {
        await using var cache = NewCache();
        var gate = cache.Diagnostics.Gate;
        var (flight, entry) = Run(cache, "price:1", ["catalog"]);
        var ticket = gate.BeginSharedRead();

        gate.OnRemoteTagInvalidated("other"); // any tag: the tier may have judged the entry before it

        gate.FillFromShared(flight, entry, ticket, admit: true);
        Assert.False(cache.Diagnostics.HasLocal("price:1"));
    }

    [Fact]
    public async Task An_L2_read_overlapping_a_reconciliation_does_not_fill_L1_and_one_that_did_not_does()
    {
        await using var cache = NewCache();
        var gate = cache.Diagnostics.Gate;
        var (flight, entry) = Run(cache, "price:1");
        var ticket = gate.BeginSharedRead();
        gate.DropFetchedBefore(cache.Clock.PreciseNowMs()); // a bus gap's recovery while the read was out
        gate.FillFromShared(flight, entry, ticket, admit: true);
        Assert.False(cache.Diagnostics.HasLocal("price:1"));

        // The control: the same fill with nothing overlapping it is cached.
        gate.FillFromShared(flight, entry, gate.BeginSharedRead(), admit: true);
        var filled = cache.Diagnostics.LocalEntry("price:1");
        Assert.NotNull(filled);
        Assert.Same(entry, filled);
    }
}
