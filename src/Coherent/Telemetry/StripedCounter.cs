using System.Numerics;
using System.Runtime.CompilerServices;

namespace Coherent.Telemetry;

/// <summary>
/// A counter split over padded cache lines so that concurrent increments on different cores rarely contend on a line.
/// Reads sum the stripes. No increment is ever lost: a plain (non-atomic) increment is only made on a stripe that one
/// thread owns alone; everything else is an atomic add.
/// </summary>
/// <remarks>
/// Layout of <see cref="Slots"/>, one 64-byte line per stripe: a padding line, the <em>owned</em> stripes (each handed to
/// one stack window for good, see <see cref="WindowBits"/>), the <em>shared</em> stripes (atomic adds, picked by
/// processor), a padding line. The padding keeps the array's length (read by every bounds check) and a neighbouring
/// object off the counted lines: without it, the thread counting on the first stripe invalidated the length's line under
/// every other core on each hit (false sharing).
/// </remarks>
internal sealed class StripedCounter
{
    private const int Stride = 8; // 8 longs = one 64-byte line

    /// <summary>Owned stripes: at least 16, four per processor up to 256. A window past the last one counts on a shared stripe.</summary>
    internal static readonly int OwnedStripes = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(4 * Environment.ProcessorCount, 16, 256));

    /// <summary>Shared stripes: one per processor (a power of two, up to 64), for atomic adds.</summary>
    private static readonly int SharedMask = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 64)) - 1;

    private static readonly int SharedBase = OwnedStripes + 1;

    private readonly long[] _slots = new long[(OwnedStripes + SharedMask + 3) * Stride];

    /// <summary>
    /// Hot-path increment: a plain increment when the caller's stack window owns a stripe, an atomic one otherwise.
    /// Returns the new value of the stripe counted on (not the total): the L1 uses it as a free tick to sample accesses.
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
    public static long IncrementRelaxed(long[] slots)
    {
        byte marker = 0;
        var window = (ulong)Unsafe.ByteOffset(ref Unsafe.NullRef<byte>(), ref marker) >> WindowBits;
        var owned = s_windows[(int)window & (WindowSlots - 1)] - (window << TagShift);

        // owned is the window's stripe (1..OwnedStripes) only if the slot's tag is this window: a slot holding another
        // window, no window, or this window without a stripe (0) all land outside the range.
        return owned - 1 < (ulong)OwnedStripes ? ++slots[(int)owned * Stride] : IncrementUnowned(slots, window);
    }

    /// <summary>
    /// The slow half of <see cref="IncrementRelaxed(long[])"/>: a window seen for the first time claims a stripe if one is
    /// left; otherwise (none left, or its slot is taken by a window 256 MB away) it adds atomically on a shared stripe.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long IncrementUnowned(long[] slots, ulong window)
    {
        var stripe = ClaimStripe(window);
        return stripe > 0
            ? ++slots[stripe * Stride]
            : Interlocked.Increment(ref slots[SharedStripeOffset()]);
    }

    /// <summary>
    /// Why a stack window identifies a thread: threads' stacks are disjoint (each is at least a few hundred KB, with guard
    /// pages between), so the 64 KB window a frame sits in belongs to one live thread at a time; a thread that starts on a
    /// dead one's stack inherits its windows, and their stripes, with nobody left to race it. Reading the stack address
    /// costs nothing, where a thread static on Linux is a call into the C runtime's TLS resolver, a measurable share of
    /// an L1 hit (docs/benchmarks.md, "Design measurements"). A window keeps its stripe for the life of the process; the
    /// table is direct-mapped (4,096 slots, tagged with the whole window number) and shared by every counter.
    /// </summary>
    private const int WindowBits = 16;

    private const int WindowSlots = 4096;

    private const int TagShift = 16;

    /// <summary>Per slot: the window number shifted by <see cref="TagShift"/>, or'ed with its stripe (0: none); 0 when free.</summary>
    private static readonly ulong[] s_windows = new ulong[WindowSlots];

    private static int s_claimed;

    /// <summary>
    /// The stripe <paramref name="window"/> owns, claiming one if it has none: 0 when it cannot own one (every stripe is
    /// taken, or its slot belongs to another window). A window is only ever claimed by the one thread on it, so the only
    /// race is two windows on one free slot, settled by compare-and-swap.
    /// </summary>
    internal static int ClaimStripe(ulong window)
    {
        ref var slot = ref s_windows[(int)window & (WindowSlots - 1)];
        var current = Volatile.Read(ref slot);
        if (current != 0)
        {
            return current >> TagShift == window ? (int)(current & 0xFFFF) : 0;
        }

        // Past the last stripe the window is still recorded (stripe 0), so it stops claiming and goes straight to atomics.
        var claimed = Interlocked.Increment(ref s_claimed);
        var stripe = claimed <= OwnedStripes ? claimed : 0;
        var entry = window << TagShift | (uint)stripe;
        return Interlocked.CompareExchange(ref slot, entry, 0) == 0 ? stripe : ClaimStripe(window);
    }

    private static int SharedStripeOffset() => (SharedBase + (Thread.GetCurrentProcessorId() & SharedMask)) * Stride;

    /// <summary>Exact increment for slow paths.</summary>
    public void Increment() => Interlocked.Increment(ref _slots[SharedStripeOffset()]);

    public void Add(long value) => Interlocked.Add(ref _slots[SharedStripeOffset()], value);

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
