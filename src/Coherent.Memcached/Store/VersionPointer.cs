using System.Buffers.Binary;

namespace Coherent.Memcached.Store;

/// <summary>
/// The payload of a versioned key's own item: magic <c>CP</c>, format version, then the current version (u64 LE). It is
/// the item the key's CAS (epoch), lease placeholder and recache win live on, exactly as a plain key's data item; the value
/// lives under the version's item (<see cref="MemcachedStore.ReadVersionedDataAsync"/>). A tier envelope never starts with
/// this magic, so a node that reads a pointer as an envelope (or the reverse) refuses it as a miss, never as a value.
/// </summary>
internal static class VersionPointer
{
    public const int Length = 11;
    private const byte Magic0 = (byte)'C';
    private const byte Magic1 = (byte)'P';
    private const byte FormatVersion = 1;

    public static byte[] Write(ulong version)
    {
        var bytes = new byte[Length];
        bytes[0] = Magic0;
        bytes[1] = Magic1;
        bytes[2] = FormatVersion;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(3), version);
        return bytes;
    }

    /// <summary>The version a pointer names; false for anything else (an envelope, foreign or damaged bytes).</summary>
    public static bool TryRead(ReadOnlySpan<byte> payload, out ulong version)
    {
        version = 0;
        if (payload.Length != Length || payload[0] != Magic0 || payload[1] != Magic1 || payload[2] != FormatVersion)
        {
            return false;
        }

        version = BinaryPrimitives.ReadUInt64LittleEndian(payload[3..]);
        return version != 0;
    }

    /// <summary>A fresh version: random, so two writers of one key never pick the same one (and never delete each other's).</summary>
    public static ulong NewVersion() => (ulong)Random.Shared.NextInt64(1, long.MaxValue);
}
