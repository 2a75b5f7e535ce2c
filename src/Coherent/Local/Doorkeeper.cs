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
    private readonly uint _mask;
    private readonly int _resetAfter;
    private int _marks;

    public Doorkeeper(int capacity)
    {
        var bits = BitOperations.RoundUpToPowerOf2((uint)Math.Clamp((long)capacity * 64, 4096, 1 << 30));
        _bits = new ulong[bits / 64];
        _mask = bits - 1;
        _resetAfter = (int)Math.Min(int.MaxValue, Math.Max(64L, (long)capacity * 10));
    }

    /// <summary>First sightings since the last reset (for tests).</summary>
    internal int Marks => Volatile.Read(ref _marks);

    /// <summary>True if the key was seen since the last reset; otherwise marks it and returns false.</summary>
    public bool SeenBefore(string key)
    {
        var hash = (uint)StringComparer.Ordinal.GetHashCode(key);
        var first = hash & _mask;
        var second = BitOperations.RotateLeft(hash * 0x9E3779B1u, 16) & _mask;
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

    private bool IsSet(uint bit) => (Volatile.Read(ref _bits[bit >> 6]) & (1UL << (int)(bit & 63))) != 0;

    private void Set(uint bit) => Interlocked.Or(ref _bits[bit >> 6], 1UL << (int)(bit & 63));
}
