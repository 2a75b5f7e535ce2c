using System.Buffers.Binary;

namespace Coherent.Memcached.Store;

/// <summary>Why a stored value was refused on read (each is a counted miss for the tier, never an exception).</summary>
internal enum FrameRejection
{
    None,

    /// <summary>Too short for a frame, or a key length that does not fit.</summary>
    Corrupt,

    /// <summary>Not written by this format (another program, another version).</summary>
    Foreign,

    /// <summary>A well-formed frame for another key: two long keys that share one hashed Memcached key.</summary>
    Aliased,
}

/// <summary>
/// The value layout under a data key: magic <c>CM</c>, format version, the full key's UTF-8 length (u32 LE) and bytes,
/// then the payload (the tier's envelope, opaque here). Keeping the full key lets a read prove the value is this key's, so
/// keys hashed to one Memcached key (long keys) never alias. An empty value is not a frame: it is the placeholder
/// Memcached creates for <c>mg … N</c> (a lease with nothing stored yet), which the store reports as such before framing.
/// </summary>
internal static class ItemFraming
{
    public const byte FormatVersion = 1;
    public const int HeaderSize = 7;
    private const byte Magic0 = (byte)'C';
    private const byte Magic1 = (byte)'M';

    public static int FramedLength(int keyBytes, int payloadBytes) => HeaderSize + keyBytes + payloadBytes;

    public static byte[] Frame(ReadOnlySpan<byte> keyUtf8, ReadOnlySpan<byte> payload)
    {
        var framed = new byte[FramedLength(keyUtf8.Length, payload.Length)];
        framed[0] = Magic0;
        framed[1] = Magic1;
        framed[2] = FormatVersion;
        BinaryPrimitives.WriteUInt32LittleEndian(framed.AsSpan(3), (uint)keyUtf8.Length);
        keyUtf8.CopyTo(framed.AsSpan(HeaderSize));
        payload.CopyTo(framed.AsSpan(HeaderSize + keyUtf8.Length));
        return framed;
    }

    /// <summary>The payload of a frame written for <paramref name="keyUtf8"/> (a slice, no copy), or why there is none.</summary>
    public static FrameRejection TryRead(ReadOnlyMemory<byte> value, ReadOnlySpan<byte> keyUtf8, out ReadOnlyMemory<byte> payload)
    {
        payload = default;
        var span = value.Span;
        if (span.Length < HeaderSize)
        {
            return FrameRejection.Corrupt;
        }

        if (span[0] != Magic0 || span[1] != Magic1 || span[2] != FormatVersion)
        {
            return FrameRejection.Foreign;
        }

        var keyLength = BinaryPrimitives.ReadUInt32LittleEndian(span[3..]);
        if (keyLength > (uint)(span.Length - HeaderSize))
        {
            return FrameRejection.Corrupt;
        }

        if (!span.Slice(HeaderSize, (int)keyLength).SequenceEqual(keyUtf8))
        {
            return FrameRejection.Aliased;
        }

        payload = value[(HeaderSize + (int)keyLength)..];
        return FrameRejection.None;
    }
}
