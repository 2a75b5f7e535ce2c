using Coherent.Stampede;

namespace Coherent.Tests;

/// <summary>
/// Found by a one-off failure of <c>SingleFlightTests.A_factory_exception_reaches_every_joined_caller_and_is_not_cached</c>:
/// between a run's completion and its removal from the table (its <c>finally</c>), a caller starting after the failure could
/// join the finished run and receive its exception without running the factory — an exception cached for a moment.
/// </summary>
public sealed class FlightTableTests
{
    private static readonly Func<string, long, Flight> NewFlight = static (k, c) => new Flight(k, c, owned: true);

    [Fact]
    public void A_finished_run_still_in_the_table_is_replaced_not_joined()
    {
        var table = new FlightTable();
        var (failed, owner) = table.JoinOrStart("price:1", NewFlight, 0);
        Assert.True(owner);
        failed.Fail(new InvalidOperationException("source down"));

        var (next, owns) = table.JoinOrStart("price:1", NewFlight, 0);
        Assert.True(owns, "a caller after the failure joined the failed run");
        Assert.NotSame(failed, next);

        // The finished run's own removal must not take its replacement out of the table.
        table.Remove(failed);
        Assert.True(table.TryGet("price:1", out var current));
        Assert.Same(next, current);
    }

    [Fact]
    public void A_running_flight_is_joined()
    {
        var table = new FlightTable();
        var (first, _) = table.JoinOrStart("price:1", NewFlight, 0);
        var (second, owner) = table.JoinOrStart("price:1", NewFlight, 0);
        Assert.False(owner);
        Assert.Same(first, second);
    }
}
