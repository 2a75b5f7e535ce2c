namespace Coherent.Local;

/// <summary>
/// Counts the moments the coarse clock was found lagging real time by more than <see cref="CacheClock.CoarseGuardMs"/>.
/// The hit path judges every bound on the coarse reading and re-checks with an exact one only inside the last
/// <see cref="CacheClock.CoarseGuardMs"/> of a bound; a larger lag (the clock thread not scheduled) can let a hit be served
/// past its bound by up to the lag. It cannot be caught on the hit path without a clock call per hit, so it is measured
/// here instead, where the clock thread wakes, and published (<c>coherent.clock.stalls</c>).
/// </summary>
internal sealed class ClockStalls
{
    private long _count;
    private long _longestMs;

    /// <summary>How many lags past the guard were seen.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>The longest lag seen, in ms (0 when none passed the guard).</summary>
    public long LongestMs => Interlocked.Read(ref _longestMs);

    /// <summary>One observation: the coarse reading and the exact time at the same moment. True when the lag passed the guard.</summary>
    public bool Observe(long coarseMs, long exactMs)
    {
        var lag = exactMs - coarseMs;
        if (lag <= CacheClock.CoarseGuardMs)
        {
            return false;
        }

        Interlocked.Increment(ref _count);
        long longest;
        while (lag > (longest = Interlocked.Read(ref _longestMs)) && Interlocked.CompareExchange(ref _longestMs, lag, longest) != longest)
        {
        }

        return true;
    }
}
