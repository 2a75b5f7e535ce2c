using Coherent.Telemetry;

namespace Coherent.Tests;

/// <summary>
/// The striped counter: relaxed increments pick a stripe by the caller's stack address, exact ones by processor; the sum
/// sees both, and increments from threads that do not run at once are never lost.
/// </summary>
public sealed class StripedCounterTests
{
    [Fact]
    public void Relaxed_and_exact_increments_on_one_thread_all_count()
    {
        var counter = new StripedCounter();
        for (var i = 0; i < 10_000; i++)
        {
            counter.IncrementRelaxed();
        }

        for (var i = 0; i < 500; i++)
        {
            counter.Increment();
        }

        counter.Add(42);
        Assert.Equal(10_542, counter.Value);

        counter.Reset();
        Assert.Equal(0, counter.Value);
    }

    [Fact]
    public void The_relaxed_tick_counts_up_on_the_callers_stripe()
    {
        // The L1 samples one hit in 1,024 by this tick: it must advance by one per call from the same frame depth.
        var counter = new StripedCounter();
        var first = counter.IncrementRelaxed();
        var second = counter.IncrementRelaxed();
        Assert.Equal(first + 1, second);
    }

    [Fact]
    public void Threads_taking_turns_lose_nothing_whichever_stripes_their_stacks_hash_to()
    {
        var counter = new StripedCounter();
        const int Threads = 8;
        const int PerThread = 20_000;
        for (var t = 0; t < Threads; t++)
        {
            // One thread at a time (joined before the next starts): each has its own stack, and a shared stripe is fine
            // as long as two threads never increment it at the same instant.
            var thread = new Thread(() =>
            {
                for (var i = 0; i < PerThread; i++)
                {
                    counter.IncrementRelaxed();
                }
            });
            thread.Start();
            thread.Join();
        }

        Assert.Equal(Threads * PerThread, counter.Value);
    }

    [Fact]
    public void Windows_get_stripes_in_turn()
    {
        // Two windows seen one after the other get different stripes (unless a full round of other first uses came between).
        var first = StripedCounter.AssignStripe(4095);
        var second = StripedCounter.AssignStripe(4094);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Two_threads_incrementing_at_once_lose_nothing()
    {
        // Relaxed increments are not atomic: two threads on one stripe would lose counts. Stripes handed out in turn keep two
        // threads that start together apart (a hash of the stack address put a given pair together with odds of 1 in 16).
        const int Pairs = 6;
        const int PerThread = 200_000;
        for (var pair = 0; pair < Pairs; pair++)
        {
            var counter = new StripedCounter();
            using var start = new Barrier(2);
            var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                for (var i = 0; i < PerThread; i++)
                {
                    counter.IncrementRelaxed();
                }
            })).ToArray();
            foreach (var t in threads)
            {
                t.Start();
            }

            foreach (var t in threads)
            {
                t.Join();
            }

            Assert.Equal(2 * PerThread, counter.Value);
        }
    }
}
