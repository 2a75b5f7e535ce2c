using System.Numerics;
using System.Runtime.CompilerServices;

namespace Coherent.Telemetry;

/// <summary>
/// A counter split over padded cache lines so that concurrent increments on different cores rarely contend on a line.
/// Reads sum the stripes.
/// </summary>
internal sealed class StripedCounter
{
    private const int Stride = 8; // 8 longs = one 64-byte line

    /// <summary>
    /// At least 16 stripes, four per processor up to 256: the relaxed increment picks its stripe by hashing the caller's
    /// stack address (below), and with more stripes than running threads two busy threads rarely hash alike.
    /// </summary>
    private static readonly int StripeMask = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(4 * Environment.ProcessorCount, 16, 256)) - 1;

    private static readonly int StripeShift = 64 - BitOperations.Log2((uint)StripeMask + 1);

    // One unused line before the first stripe and after the last: the array's length (read by every increment's bounds
    // check) shares a line with element 0, and a neighbouring object may share the last line. Without the padding, the
    // thread counting on stripe 0 invalidated the length's line under every other core on each hit (false sharing).
    private readonly long[] _slots = new long[(StripeMask + 3) * Stride];

    /// <summary>
    /// Hot-path increment without a lock prefix. Two threads that share a stripe can, rarely, lose a count when both
    /// increment at the same instant; these counters feed statistics, where that error is negligible.
    /// Returns the new value of the caller's stripe (not the total): the L1 uses it as a free tick to sample accesses.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long IncrementRelaxed() => ++_slots[StackStripeOffset()];

    /// <summary>
    /// The caller's stripe from the address of one of its locals: threads' stacks are disjoint (a thread's stack is at
    /// least a few hundred KB, with guard pages between), so the 64 KB window the caller's frame sits in identifies its
    /// thread, without a thread-local lookup. On Linux a thread static is a call into the C runtime's TLS resolver — with
    /// the per-processor cache this replaced, 2 ns of a 20 ns L1 hit (Stopwatch loop: 20.6 → 18.7 ns; two threads 0.34–0.48 →
    /// 0.49–0.75 of the dictionary's throughput). The window is hashed (Fibonacci) so neighbouring stacks spread out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int StackStripeOffset()
    {
        byte marker = 0;
        var address = (ulong)Unsafe.ByteOffset(ref Unsafe.NullRef<byte>(), ref marker);
        return ((int)(((address >> 16) * 0x9E3779B97F4A7C15UL) >> StripeShift) + 1) * Stride;
    }

    private static int CurrentStripeOffset() => ((Thread.GetCurrentProcessorId() & StripeMask) + 1) * Stride;

    /// <summary>Exact increment for slow paths.</summary>
    public void Increment() => Interlocked.Increment(ref _slots[CurrentStripeOffset()]);

    public void Add(long value) => Interlocked.Add(ref _slots[CurrentStripeOffset()], value);

    public long Value
    {
        get
        {
            long sum = 0;
            for (var i = Stride; i < _slots.Length - Stride; i += Stride)
            {
                sum += Volatile.Read(ref _slots[i]);
            }

            return sum;
        }
    }

    public void Reset()
    {
        for (var i = Stride; i < _slots.Length - Stride; i += Stride)
        {
            Volatile.Write(ref _slots[i], 0);
        }
    }
}
