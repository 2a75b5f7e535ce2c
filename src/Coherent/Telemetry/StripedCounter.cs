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
    /// At least 16 stripes, four per processor up to 256: the relaxed increment picks its stripe by the caller's stack
    /// address (below), and stripes go to stacks in turn, so few busy threads share one.
    /// </summary>
    private static readonly int StripeMask = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(4 * Environment.ProcessorCount, 16, 256)) - 1;

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
    public long IncrementRelaxed() => IncrementRelaxed(_slots);

    /// <summary>The counter's stripes, for a holder that increments them with <see cref="IncrementRelaxed(long[])"/>.</summary>
    public long[] Slots => _slots;

    /// <summary>
    /// <see cref="IncrementRelaxed()"/> on a counter's <see cref="Slots"/>: an L1 entry holds its family's slots, so a hit
    /// loads entry → slots, not entry → counter → slots (one dependent load fewer on the hit path).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long IncrementRelaxed(long[] slots) => ++slots[StackStripeOffset()];

    /// <summary>
    /// The caller's stripe from the address of one of its locals: threads' stacks are disjoint (a thread's stack is at
    /// least a few hundred KB, with guard pages between), so the 64 KB window the caller's frame sits in identifies its
    /// thread, without a thread-local lookup. On Linux a thread static is a call into the C runtime's TLS resolver, a
    /// measurable share of an L1 hit (docs/benchmarks.md, "Design measurements"). Each window gets its stripe on first use, round-robin
    /// (<see cref="AssignStripe"/>): the first 16 or more windows in use get distinct stripes. The earlier hash of the window
    /// put two given threads on one stripe with odds of 1 in 16, for the life of the process, and then every hit of both
    /// wrote the same cache line (and, the increment being relaxed, could lose counts).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int StackStripeOffset()
    {
        byte marker = 0;
        var address = (ulong)Unsafe.ByteOffset(ref Unsafe.NullRef<byte>(), ref marker);
        var window = (int)(address >> 16) & (WindowSlots - 1);
        var stripe = (int)s_windowStripes[window];
        return (stripe != 0 ? stripe : AssignStripe(window)) * Stride;
    }

    /// <summary>4,096 slots of 64 KB windows: the slot of a window repeats every 256 MB of address space.</summary>
    private const int WindowSlots = 4096;

    /// <summary>Per window slot, its stripe plus one (0: none yet). Shared by every counter; 8 KB.</summary>
    private static readonly ushort[] s_windowStripes = new ushort[WindowSlots];

    private static int s_nextStripe;

    /// <summary>The next stripe in turn, for a window seen for the first time. Racing first uses both get a valid stripe.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static int AssignStripe(int window)
    {
        var stripe = (Interlocked.Increment(ref s_nextStripe) & StripeMask) + 1;
        s_windowStripes[window] = (ushort)stripe;
        return stripe;
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
