using System.Runtime.CompilerServices;

namespace Coherent.Local;

/// <summary>
/// Milliseconds on a monotonic clock, anchored to the Unix epoch once: the wall time when the clock started plus the time
/// elapsed since, by the provider's timestamp. Every local bound (expiry, MaxStaleness, bus confirmation, heartbeats) is a
/// difference of two such readings, so a step of the wall clock (NTP, a VM resumed) neither freezes expiry nor extends a
/// bound; readings still serve as absolute times for the shared tier, off by the wall clock's drift since the anchor.
/// With <see cref="TimeProvider.System"/> the value is read from a field that a dedicated background thread refreshes every
/// millisecond, because a clock call costs more than the whole L1 hit on the virtual machines this runs on (docs/benchmarks.md).
/// A dedicated thread, not a timer: a timer's callback needs a thread-pool thread, so an application that starves its pool
/// would stop the clock, and every hit would then be judged against a frozen time (served past Ttl and MaxStaleness).
/// Any other provider (a <c>FakeTimeProvider</c> in tests) is asked on every read, so tests stay exact.
/// </summary>
internal sealed class CacheClock : IDisposable
{
    private readonly TimeProvider _time;
    private readonly bool _coarse;
    private readonly Func<long>? _laggingHitClock;
    private readonly long _anchorMs;
    private readonly long _anchorTimestamp;
    private int _disposed;

    /// <param name="time">The cache's time provider.</param>
    /// <param name="laggingHitClock">Tests only: what <see cref="NowMs"/> returns instead of the provider's time.</param>
    public CacheClock(TimeProvider time, Func<long>? laggingHitClock = null)
    {
        _time = time;
        _laggingHitClock = laggingHitClock;
        _anchorMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        _anchorTimestamp = time.GetTimestamp();
        if (ReferenceEquals(time, TimeProvider.System) && laggingHitClock is null)
        {
            _coarse = true;
            Ticker.Acquire();
        }
    }

    public TimeProvider TimeProvider => _time;

    /// <summary>Cheap read for the hit path (at most ~1 ms behind when coarse).</summary>
    public long NowMs
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _coarse ? Volatile.Read(ref Ticker.NowMs) : ExactOrLaggingNowMs();
    }

    /// <summary>
    /// How far behind real time <see cref="NowMs"/> may be before a staleness bound is judged by <see cref="PreciseNowMs"/>
    /// instead: the ticker thread refreshes it every millisecond, but a loaded machine can leave that thread unscheduled
    /// for longer.
    /// </summary>
    public const long CoarseGuardMs = 50;

    private long ExactOrLaggingNowMs() => _laggingHitClock is { } lagging ? lagging() : MonotonicNowMs();

    private long MonotonicNowMs() => _anchorMs + (long)_time.GetElapsedTime(_anchorTimestamp).TotalMilliseconds;

    /// <summary>Exact read for slow paths (misses, writes); also refreshes the coarse value.</summary>
    public long PreciseNowMs()
    {
        if (_coarse)
        {
            var now = Ticker.Read();
            Ticker.Advance(now);
            return now;
        }

        return MonotonicNowMs();
    }

    /// <summary>
    /// The times this process's clock thread found the cheap reading more than <see cref="CoarseGuardMs"/> behind (the
    /// process or its machine was not scheduled: a VM paused, CPU starved), and the longest lag seen. Hits judged in such a
    /// moment, before the thread ran again, may have been served past their bound by up to that lag.
    /// </summary>
    public static ClockStalls Stalls => Ticker.Stalls;

    public long GetTimestamp() => _time.GetTimestamp();

    public TimeSpan GetElapsedTime(long start) => _time.GetElapsedTime(start);

    public void Dispose()
    {
        if (_coarse && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Ticker.Release();
        }
    }

    /// <summary>One thread per process, running while at least one coarse clock is alive; anchored once per process.</summary>
    private static class Ticker
    {
        private static readonly long AnchorMs = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        private static readonly long AnchorTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();

        public static long NowMs = AnchorMs;

        /// <summary>The process's monotonic clock in anchored milliseconds.</summary>
        public static long Read() => AnchorMs + (long)System.Diagnostics.Stopwatch.GetElapsedTime(AnchorTimestamp).TotalMilliseconds;

        private static readonly Lock Gate = new();
        private static int s_users;
        private static Thread? s_thread;

        public static void Acquire()
        {
            lock (Gate)
            {
                Advance(Read());
                if (s_users++ == 0 && s_thread is null)
                {
                    s_thread = new Thread(Run) { IsBackground = true, Name = "Coherent clock" };
                    s_thread.Start();
                }
            }
        }

        public static void Release()
        {
            lock (Gate)
            {
                s_users--;
            }
        }

        /// <summary>Moves the clock forward only (a precise read on another thread may be ahead of the ticker).</summary>
        public static void Advance(long now)
        {
            long current;
            while (now > (current = Volatile.Read(ref NowMs)) && Interlocked.CompareExchange(ref NowMs, now, current) != current)
            {
            }
        }

        /// <summary>How often, and how far, the shared value had fallen behind when this thread next ran (process-wide).</summary>
        public static readonly ClockStalls Stalls = new();

        private static void Run()
        {
            while (true)
            {
                var now = Read();
                Stalls.Observe(Volatile.Read(ref NowMs), now);
                Advance(now);
                Thread.Sleep(1);
                lock (Gate)
                {
                    if (s_users == 0)
                    {
                        s_thread = null; // the next Acquire starts a new one
                        return;
                    }
                }
            }
        }
    }
}
