using System.Numerics;

namespace Coherent.Local;

/// <summary>
/// Remembers which keys missed recently (a small Bloom filter), so that a full L1 caches a key on its second miss, not its
/// first: one-off keys — a scan, the long tail of a skewed workload — then never displace an entry, not even from the
/// LFU's admission window. The filter forgets everything every ten capacities' worth of first sightings, as TinyLFU's
/// doorkeeper does, so it stays small (64 bits per entry of capacity) and its false positives rare.
/// </summary>
/// <remarks>
/// Racy by design: two threads marking at once can lose a mark (that key needs one more miss) and a reset can race a mark;
/// neither can make a read wrong, only one cached value more or less.
/// </remarks>
internal sealed class Doorkeeper
{
    private readonly ulong[] _bits;
    private readonly ulong _bitCount;
    private readonly int _resetAfter;
    private int _marks;

    public Doorkeeper(int capacity)
    {
        // Exactly 64 bits per entry (not rounded up to a power of two: a bit is picked by a multiply-shift, not a mask).
        var words = (int)Math.Clamp((long)capacity, 64, 1 << 24);
        _bits = new ulong[words];
        _bitCount = (ulong)words * 64;
        _resetAfter = (int)Math.Min(int.MaxValue, Math.Max(64L, (long)capacity * 10));
    }

    /// <summary>First sightings since the last reset (for tests).</summary>
    internal int Marks => Volatile.Read(ref _marks);

    /// <summary>True if the key was seen since the last reset; otherwise marks it and returns false.</summary>
    public bool SeenBefore(string key)
    {
        var hash = (uint)StringComparer.Ordinal.GetHashCode(key);
        var first = Pick(hash);
        var second = Pick(BitOperations.RotateLeft(hash * 0x9E3779B1u, 16));
        if (IsSet(first) && IsSet(second))
        {
            return true;
        }

        Set(first);
        Set(second);
        if (Interlocked.Increment(ref _marks) >= _resetAfter)
        {
            Volatile.Write(ref _marks, 0);
            Array.Clear(_bits);
        }

        return false;
    }

    /// <summary>A bit index in [0, bit count) from 32 well-mixed bits (Lemire's multiply-shift reduction).</summary>
    private uint Pick(uint mixed) => (uint)((mixed * _bitCount) >> 32);

    private bool IsSet(uint bit) => (Volatile.Read(ref _bits[bit >> 6]) & (1UL << (int)(bit & 63))) != 0;

    private void Set(uint bit) => Interlocked.Or(ref _bits[bit >> 6], 1UL << (int)(bit & 63));
}
