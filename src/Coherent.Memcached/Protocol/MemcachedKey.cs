using System.Buffers.Text;
using System.IO.Hashing;
using System.Text;

namespace Coherent.Memcached.Protocol;

/// <summary>
/// Turns any key into what goes on the wire: base64 text (sent with the <c>b</c> flag), so spaces, control characters and
/// non-UTF-8 bytes can never reach the text protocol. The raw key is <c>prefix 0x00 kind key</c>; when its base64 form would
/// exceed Memcached's 250-byte limit it becomes <c>prefix 0x01 kind XxHash128(key)</c>. The prefix (letters, digits,
/// <c>-_.:</c>) holds no 0x00 or 0x01, so a plain key and a hashed one can never be the same bytes; two long keys that
/// collide on the hash are told apart by the full key <see cref="Store.ItemFraming"/> keeps in the value.
/// </summary>
internal sealed class MemcachedKey
{
    /// <summary>Memcached's key limit, which applies to the base64 text.</summary>
    public const int MaxWireLength = 250;

    /// <summary>Longest raw key whose base64 form fits (186 bytes → 248 characters).</summary>
    public const int MaxRawLength = MaxWireLength / 4 * 3;

    private const byte PlainMarker = 0x00;
    private const byte HashedMarker = 0x01;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] _prefix;

    public MemcachedKey(string prefix) => _prefix = Encoding.ASCII.GetBytes(prefix);

    /// <summary>The UTF-8 bytes of a key; an unpaired surrogate (which UTF-8 cannot carry, so two keys would alias) is refused.</summary>
    public static byte[] Utf8(string key)
    {
        try
        {
            return StrictUtf8.GetBytes(key);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException($"Key '{(key.Length <= 80 ? key : key[..77] + "...")}' is not valid UTF-16 text (an unpaired surrogate).", nameof(key), ex);
        }
    }

    /// <summary>The wire key for <paramref name="key"/> in the namespace <paramref name="kind"/> (data, tag, clear…).</summary>
    public byte[] Encode(byte kind, ReadOnlySpan<byte> key)
    {
        var plainLength = _prefix.Length + 2 + key.Length;
        if (plainLength <= MaxRawLength)
        {
            Span<byte> raw = stackalloc byte[plainLength];
            _prefix.CopyTo(raw);
            raw[_prefix.Length] = PlainMarker;
            raw[_prefix.Length + 1] = kind;
            key.CopyTo(raw[(_prefix.Length + 2)..]);
            return ToBase64(raw);
        }

        Span<byte> hashed = stackalloc byte[_prefix.Length + 2 + 16];
        _prefix.CopyTo(hashed);
        hashed[_prefix.Length] = HashedMarker;
        hashed[_prefix.Length + 1] = kind;
        XxHash128.Hash(key, hashed[(_prefix.Length + 2)..]);
        return ToBase64(hashed);
    }

    /// <summary>Base64 of raw bytes already within the limit (the client-level form, for tests of the protocol itself).</summary>
    public static byte[] ToBase64(ReadOnlySpan<byte> raw)
    {
        if (raw.Length is 0 or > MaxRawLength)
        {
            throw new ArgumentOutOfRangeException(nameof(raw), raw.Length, $"A raw Memcached key is 1 to {MaxRawLength} bytes.");
        }

        var wire = new byte[Base64.GetMaxEncodedToUtf8Length(raw.Length)];
        Base64.EncodeToUtf8(raw, wire, out _, out var written);
        return written == wire.Length ? wire : wire[..written];
    }
}
