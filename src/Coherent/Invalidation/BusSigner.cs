using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Coherent.Invalidation;

/// <summary>
/// HMAC-SHA256 of bus frames, with a key derived from the application's <c>SigningKey</c> and prefix. A signed frame is
/// <c>#</c>, the MAC in base64 (44 characters), then the frame. Tag and clear frames are signed before the bump script appends
/// the version it bumped to (it runs in Redis, which never sees the key), so their MAC covers everything up to the last bar:
/// sender, sequence and tag. The version is then bounded by the receiver (<see cref="SharedTier.IInvalidationBusListener.OnTagVersion"/>),
/// and a copy of a signed frame is a duplicate sequence number for its sender (<see cref="SequenceTracker.IsDuplicate"/>).
/// </summary>
internal sealed class BusSigner(byte[] key)
{
    private const int MacSize = 32;
    private const int MacChars = 44;
    private const int HeaderLength = 1 + MacChars;

    public string Sign(string frame)
    {
        Span<byte> mac = stackalloc byte[MacSize];
        Compute(frame.AsSpan(0, Covered(frame)), mac);
        return string.Concat("#", Convert.ToBase64String(mac), frame);
    }

    /// <summary>Checks the MAC in constant time and returns the frame without it; false for anything unsigned or forged.</summary>
    public bool TryOpen(string text, out string frame)
    {
        frame = text;
        if (text.Length <= HeaderLength || text[0] != '#')
        {
            return false;
        }

        Span<byte> claimed = stackalloc byte[MacSize + 3];
        if (!Convert.TryFromBase64Chars(text.AsSpan(1, MacChars), claimed, out var length) || length != MacSize)
        {
            return false;
        }

        var body = text.AsSpan(HeaderLength);
        Span<byte> mac = stackalloc byte[MacSize];
        Compute(body[..Covered(body)], mac);
        if (!CryptographicOperations.FixedTimeEquals(mac, claimed[..MacSize]))
        {
            return false;
        }

        frame = text[HeaderLength..];
        return true;
    }

    /// <summary>Strips a signature without checking it: a node without a key still understands a signed node's frames.</summary>
    public static string Strip(string text) => text.Length > HeaderLength && text[0] == '#' ? text[HeaderLength..] : text;

    /// <summary>Tag and clear frames get their version appended after signing: the MAC covers up to the last bar.</summary>
    private static int Covered(ReadOnlySpan<char> frame) =>
        frame.Length > 0 && frame[0] is 'T' or 'C' ? frame.LastIndexOf('|') + 1 : frame.Length;

    private void Compute(ReadOnlySpan<char> covered, Span<byte> mac)
    {
        var max = Encoding.UTF8.GetMaxByteCount(covered.Length);
        byte[]? rented = null;
        var buffer = max <= 1024 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var written = Encoding.UTF8.GetBytes(covered, buffer);
        HMACSHA256.HashData(key, buffer[..written], mac);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
