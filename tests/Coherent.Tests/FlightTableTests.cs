using Coherent.Invalidation;
using Coherent.Stampede;

namespace Coherent.Tests;

/// <summary>
/// Found by a one-off failure of <c>SingleFlightTests.A_factory_exception_reaches_every_joined_caller_and_is_not_cached</c>:
/// between a run's completion and its removal from the table (its <c>finally</c>), a caller starting after the failure could
/// join the finished run and receive its exception without running the factory — an exception cached for a moment.
/// </summary>
public sealed class FlightTableTests
{
    private static readonly Func<string, long, int, Flight> NewFlight = static (k, c, _) => new Flight(k, c, owned: true);

    private static InvalidationGate NewGate() => new CoherentCacheBuilder().WithName($"flights-{Guid.NewGuid():N}").Build().Diagnostics.Gate;

    [Fact]
    public void A_finished_run_still_in_the_table_is_replaced_not_joined()
    {
        var gate = NewGate();
        var (failed, owner) = gate.JoinOrStart("price:1", NewFlight, 0, asWaiter: true);
        Assert.True(owner);
        failed.Fail(new InvalidOperationException("source down"));

        var (next, owns) = gate.JoinOrStart("price:1", NewFlight, 0, asWaiter: true);
        Assert.True(owns, "a caller after the failure joined the failed run");
        Assert.NotSame(failed, next);

        // The finished run's own removal must not take its replacement out of the table.
        gate.Remove(failed);
        Assert.True(gate.Flights.TryGet("price:1", out var current));
        Assert.Same(next, current);
    }

    [Fact]
    public void A_running_flight_is_joined()
    {
        var gate = NewGate();
        var (first, _) = gate.JoinOrStart("price:1", NewFlight, 0, asWaiter: true);
        var (second, owner) = gate.JoinOrStart("price:1", NewFlight, 0, asWaiter: true);
        Assert.False(owner);
        Assert.Same(first, second);
    }
}
