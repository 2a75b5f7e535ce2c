using System.Numerics;
using System.Runtime.CompilerServices;

namespace Coherent.Telemetry;

/// <summary>
/// A counter split into one cache line per processor so that concurrent hits on different cores never
/// contend on a shared line. Reads sum the stripes.
/// </summary>
internal sealed class StripedCounter
{
    private const int Stride = 8; // 8 longs = one 64-byte line
    private static readonly int StripeMask = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Min(Environment.ProcessorCount, 64)) - 1;
    private readonly long[] _slots = new long[(StripeMask + 1) * Stride];

    /// <summary>
    /// Hot-path increment without a lock prefix. Two threads on one processor can, rarely, lose a count when one is
    /// pre-empted mid-increment; these counters feed statistics, where that error is negligible.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void IncrementRelaxed() => _slots[CachedStripeOffset()]++;

    /// <summary>
    /// The current processor's slot offset, asked of the OS once every 256 calls per thread: on Linux
    /// <see cref="Thread.GetCurrentProcessorId"/> is a sched_getcpu call (~7 ns on the benchmark VM, a quarter of an L1
    /// hit). A thread that moved to another core keeps its old stripe for at most 255 more increments.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CachedStripeOffset()
    {
        ref var cache = ref t_stripe;
        if (--cache.Remaining < 0)
        {
            return RefreshStripe(ref cache);
        }

        return cache.Offset;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RefreshStripe(ref StripeCache cache)
    {
        cache.Remaining = 255;
        return cache.Offset = (Thread.GetCurrentProcessorId() & StripeMask) * Stride;
    }

    [ThreadStatic]
    private static StripeCache t_stripe;

    private struct StripeCache
    {
        public int Offset;
        public int Remaining;
    }

    /// <summary>Exact increment for slow paths.</summary>
    public void Increment() => Interlocked.Increment(ref _slots[(Thread.GetCurrentProcessorId() & StripeMask) * Stride]);

    public void Add(long value) => Interlocked.Add(ref _slots[(Thread.GetCurrentProcessorId() & StripeMask) * Stride], value);

    public long Value
    {
        get
        {
            long sum = 0;
            for (var i = 0; i < _slots.Length; i += Stride)
            {
                sum += Volatile.Read(ref _slots[i]);
            }

            return sum;
        }
    }

    public void Reset()
    {
        for (var i = 0; i < _slots.Length; i += Stride)
        {
            Volatile.Write(ref _slots[i], 0);
        }
    }
}
