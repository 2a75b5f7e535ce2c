using System.Diagnostics;
using Coherent.Local;

namespace Coherent.Tests;

/// <summary>
/// The coarse clock behind every hit's expiry and staleness check must not stop when the thread pool does: a timer's
/// callback needs a pool thread, and an application blocking its pool would then be served entries past Ttl and past
/// MaxStaleness. Serial: it starves the pool on purpose.
/// </summary>
[Collection(nameof(SerialCollection))]
public sealed class CacheClockTests
{
    [Fact]
    public void The_coarse_clock_keeps_time_while_the_thread_pool_is_starved()
    {
        using var clock = new CacheClock(TimeProvider.System);
        // Not disposed: work items still queued when the test ends would wait on a disposed event (a process-level failure).
        var gate = new ManualResetEventSlim();
        var blocked = 0;
        var blockers = Math.Max(64, ThreadPool.ThreadCount * 4);
        using var done = new CountdownEvent(blockers);
        for (var i = 0; i < blockers; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                Interlocked.Increment(ref blocked);
                gate.Wait();
                done.Signal();
            }, null);
        }

        try
        {
            // Every pool thread is now stuck (the pool adds threads only slowly when starved).
            var watch = Stopwatch.StartNew();
            while (Volatile.Read(ref blocked) < ThreadPool.ThreadCount && watch.ElapsedMilliseconds < 2000)
            {
                Thread.Sleep(1);
            }

            var before = clock.NowMs;
            var real = Stopwatch.StartNew();
            Thread.Sleep(300);
            var advanced = clock.NowMs - before;
            Assert.True(advanced >= real.ElapsedMilliseconds - 50, $"the coarse clock advanced {advanced} ms in {real.ElapsedMilliseconds} ms of a starved pool");
        }
        finally
        {
            gate.Set();
            Assert.True(done.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the blocked work items did not finish");
        }
    }
}
