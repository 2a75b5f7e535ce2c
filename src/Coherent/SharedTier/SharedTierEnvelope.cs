using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;

namespace Coherent.SharedTier;

/// <summary>Why bytes read from a shared tier were refused (each is a counted miss, never an exception).</summary>
public enum SharedTierEnvelopeRejection
{
    /// <summary>Accepted.</summary>
    None,

    /// <summary>Coherent's format, but truncated or inconsistent.</summary>
    Corrupt,

    /// <summary>Not Coherent's format (or another format version): written by something else.</summary>
    Foreign,

    /// <summary>A payload over the reader's limit.</summary>
    Oversized,

    /// <summary>Unsigned, or signed with another key, where the reader requires its signature.</summary>
#pragma warning disable CA1720 // "unsigned" as in "not signed"; the name is also the metric's reason attribute
    Unsigned,
#pragma warning restore CA1720

    /// <summary>Written for another key (two keys mapped to one storage key).</summary>
    Aliased,

    /// <summary>Signed, but stored under an older epoch than its key's current one (captured and written back after an invalidation).</summary>
    OlderThanEpoch,

    /// <summary>An epoch, tag or clear version in Redis that is not an integer from 0 to 2^53 - 1 (written by something else).</summary>
    BadVersion,
}

/// <summary>A decoded envelope: metadata plus the payload slice (no copy). Times are on the engine's clock (Unix ms).</summary>
/// <param name="CreatedAtMs">When the value was fetched.</param>
/// <param name="ExpiresAtMs">When it stops being fresh.</param>
/// <param name="Epoch">The key's epoch it was stored under.</param>
/// <param name="DeltaMs">How long its factory took.</param>
/// <param name="ClearVersion">The clear version it was stamped with.</param>
/// <param name="Tags">Its tags with the versions it was stamped with, or null.</param>
/// <param name="Payload">The serialized value.</param>
public readonly record struct SharedTierEnvelopeData(
    long CreatedAtMs, long ExpiresAtMs, long Epoch, double DeltaMs, long ClearVersion,
    (string Tag, long Version)[]? Tags, ReadOnlyMemory<byte> Payload)
{
    /// <summary>
    /// The metadata stored beside the value (<see cref="SharedTierEntry.Metadata"/>), or null. Written only when set (a flag
    /// and a length-prefixed UTF-8 field after the tags), so envelopes written without it read as before; covered by the MAC.
    /// </summary>
    public string? Metadata { get; init; }

    /// <summary>The names of <see cref="Tags"/> (what <see cref="SharedTierEntry.Tags"/> carries), or null without tags.</summary>
    public static string[]? TagNames((string Tag, long Version)[]? tags)
    {
        if (tags is null)
        {
            return null;
        }

        var names = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            names[i] = tags[i].Tag;
        }

        return names;
    }
}

/// <summary>
/// The shared tier's value format, one for every backend: magic <c>CH</c>, format version, flags, created/expiry, epoch, delta, clear version, the key's
/// XxHash64 (to detect two keys aliased to one Redis key), tags with their versions, the metadata when there is some (a flag;
/// older envelopes have none and read unchanged), the payload, and an optional
/// HMAC-SHA256 over everything before it and the full key (<see cref="Mac"/>). Little-endian; written in one exact-size array.
/// </summary>
public static class SharedTierEnvelope
{
    /// <summary>The format version written (a reader refuses others as <see cref="SharedTierEnvelopeRejection.Foreign"/>).</summary>
    public const byte FormatVersion = 1;
    private const byte Magic0 = (byte)'C';
    private const byte Magic1 = (byte)'H';
    private const byte SignedFlag = 1;
    private const byte MetadataFlag = 2;
    private const int MaxMetadataBytes = 4096;
    private const int HeaderSize = 54;
    private const int MacSize = 32;

    /// <summary>The key's XxHash64 over its UTF-8 bytes, as the envelope records it.</summary>
    public static ulong KeyHash(string key)
    {
        var max = Encoding.UTF8.GetMaxByteCount(key.Length);
        Span<byte> buffer = max <= 512 ? stackalloc byte[max] : new byte[max];
        var written = Encoding.UTF8.GetBytes(key, buffer);
        return XxHash64.HashToUInt64(buffer[..written]);
    }

    /// <summary>
    /// HMAC(k, key ‖ HMAC(k, body)): the body names its key only by a 64-bit unseeded hash, which an attacker can collide
    /// offline, so the full key goes into the MAC (the inner MAC is the fixed-size last part, so the input is unambiguous).
    /// The body carries the epoch, so it is covered too. The tier derives k per application prefix. No allocation for keys
    /// up to about 300 characters.
    /// </summary>
    private static void Mac(byte[] signingKey, string key, ReadOnlySpan<byte> body, Span<byte> mac)
    {
        Span<byte> inner = stackalloc byte[MacSize];
        HMACSHA256.HashData(signingKey, body, inner);
        var max = Encoding.UTF8.GetMaxByteCount(key.Length) + MacSize;
        byte[]? rented = null;
        var outer = max <= 1024 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var written = Encoding.UTF8.GetBytes(key, outer);
        inner.CopyTo(outer[written..]);
        HMACSHA256.HashData(signingKey, outer[..(written + MacSize)], mac[..MacSize]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Writes <paramref name="data"/> for <paramref name="key"/>, signed with <paramref name="signingKey"/> (HMAC-SHA256) when given.</summary>
    public static byte[] Write(string key, in SharedTierEnvelopeData data, byte[]? signingKey)
    {
        var size = HeaderSize + 4 + data.Payload.Length + (signingKey is null ? 0 : MacSize);
        if (data.Tags is { } tags)
        {
            foreach (var (tag, _) in tags)
            {
                size += 2 + Encoding.UTF8.GetByteCount(tag) + 8;
            }
        }

        var metadataBytes = data.Metadata is { } metadata ? Encoding.UTF8.GetByteCount(metadata) : -1;
        if (metadataBytes > MaxMetadataBytes)
        {
            throw new ArgumentException($"The metadata of '{key}' is {metadataBytes} UTF-8 bytes, over the limit of {MaxMetadataBytes}.", nameof(data));
        }

        if (metadataBytes >= 0)
        {
            size += 2 + metadataBytes;
        }

        var bytes = new byte[size];
        var span = bytes.AsSpan();
        span[0] = Magic0;
        span[1] = Magic1;
        span[2] = FormatVersion;
        span[3] = (byte)((signingKey is null ? 0 : SignedFlag) | (metadataBytes >= 0 ? MetadataFlag : 0));
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], data.CreatedAtMs);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], data.ExpiresAtMs);
        BinaryPrimitives.WriteInt64LittleEndian(span[20..], data.Epoch);
        BinaryPrimitives.WriteDoubleLittleEndian(span[28..], data.DeltaMs);
        BinaryPrimitives.WriteInt64LittleEndian(span[36..], data.ClearVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(span[44..], KeyHash(key));
        var count = data.Tags?.Length ?? 0;
        BinaryPrimitives.WriteUInt16LittleEndian(span[52..], checked((ushort)count));
        var offset = HeaderSize;
        for (var i = 0; i < count; i++)
        {
            var (tag, version) = data.Tags![i];
            var length = Encoding.UTF8.GetBytes(tag, span[(offset + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], checked((ushort)length));
            offset += 2 + length;
            BinaryPrimitives.WriteInt64LittleEndian(span[offset..], version);
            offset += 8;
        }

        if (metadataBytes >= 0)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], (ushort)metadataBytes);
            offset += 2 + Encoding.UTF8.GetBytes(data.Metadata!, span[(offset + 2)..]);
        }

        BinaryPrimitives.WriteInt32LittleEndian(span[offset..], data.Payload.Length);
        offset += 4;
        data.Payload.Span.CopyTo(span[offset..]);
        offset += data.Payload.Length;
        if (signingKey is not null)
        {
            Mac(signingKey, key, span[..offset], span[offset..]);
        }

        return bytes;
    }

    /// <summary>
    /// Reads an envelope written for <paramref name="key"/>; with <paramref name="signingKey"/>, only one signed with it. Never
    /// throws for bad bytes: the reason is returned and <paramref name="data"/> is default. The payload is a slice of <paramref name="bytes"/>.
    /// </summary>
    public static SharedTierEnvelopeRejection TryRead(string key, ReadOnlyMemory<byte> bytes, byte[]? signingKey, long maxPayloadBytes, out SharedTierEnvelopeData data)
    {
        data = default;
        var span = bytes.Span;
        if (span.Length < HeaderSize + 4 || span[0] != Magic0 || span[1] != Magic1 || span[2] != FormatVersion)
        {
            return SharedTierEnvelopeRejection.Foreign;
        }

        var signed = (span[3] & SignedFlag) != 0;
        if (signingKey is not null && !signed)
        {
            return SharedTierEnvelopeRejection.Unsigned;
        }

        if (signed && signingKey is not null)
        {
            if (span.Length < HeaderSize + 4 + MacSize)
            {
                return SharedTierEnvelopeRejection.Corrupt;
            }

            var body = span[..^MacSize];
            Span<byte> mac = stackalloc byte[MacSize];
            Mac(signingKey, key, body, mac);
            if (!CryptographicOperations.FixedTimeEquals(mac, span[^MacSize..]))
            {
                return SharedTierEnvelopeRejection.Unsigned;
            }
        }

        var end = span.Length - (signed ? MacSize : 0);
        if (BinaryPrimitives.ReadUInt64LittleEndian(span[44..]) != KeyHash(key))
        {
            return SharedTierEnvelopeRejection.Aliased;
        }

        var count = BinaryPrimitives.ReadUInt16LittleEndian(span[52..]);
        var offset = HeaderSize;
        (string, long)[]? tags = count == 0 ? null : new (string, long)[count];
        for (var i = 0; i < count; i++)
        {
            if (offset + 2 > end)
            {
                return SharedTierEnvelopeRejection.Corrupt;
            }

            int length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
            offset += 2;
            if (offset + length + 8 > end)
            {
                return SharedTierEnvelopeRejection.Corrupt;
            }

            tags![i] = (Encoding.UTF8.GetString(span.Slice(offset, length)), BinaryPrimitives.ReadInt64LittleEndian(span[(offset + length)..]));
            offset += length + 8;
        }

        string? metadata = null;
        if ((span[3] & MetadataFlag) != 0)
        {
            if (offset + 2 > end)
            {
                return SharedTierEnvelopeRejection.Corrupt;
            }

            int length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
            offset += 2;
            if (length > MaxMetadataBytes || offset + length > end)
            {
                return SharedTierEnvelopeRejection.Corrupt;
            }

            metadata = Encoding.UTF8.GetString(span.Slice(offset, length));
            offset += length;
        }

        if (offset + 4 > end)
        {
            return SharedTierEnvelopeRejection.Corrupt;
        }

        var payloadLength = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
        offset += 4;
        if (payloadLength > maxPayloadBytes)
        {
            return SharedTierEnvelopeRejection.Oversized;
        }

        if (payloadLength < 0 || offset + payloadLength != end)
        {
            return SharedTierEnvelopeRejection.Corrupt;
        }

        data = new SharedTierEnvelopeData(
            BinaryPrimitives.ReadInt64LittleEndian(span[4..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[12..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[20..]),
            BinaryPrimitives.ReadDoubleLittleEndian(span[28..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[36..]),
            tags,
            bytes.Slice(offset, payloadLength))
        {
            Metadata = metadata,
        };
        return SharedTierEnvelopeRejection.None;
    }
}
