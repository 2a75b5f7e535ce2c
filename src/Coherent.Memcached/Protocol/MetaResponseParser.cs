using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Coherent.Memcached.Protocol;

/// <summary>
/// Parses meta responses from the receive buffer. Anything that is not a well-formed response (an over-long or unterminated
/// line, an unknown status, a value block not followed by CRLF, a size over the limit) is a <see cref="ProtocolDesyncException"/>:
/// after it no later byte can be trusted to belong to the next response, so the connection must be discarded.
/// </summary>
internal static class MetaResponseParser
{
    /// <summary>Longest response line accepted (a meta header with every flag is far shorter).</summary>
    public const int MaxLineBytes = 8 * 1024;

    /// <summary>
    /// Parses one response from the start of <paramref name="buffer"/>. Returns false when more bytes are needed;
    /// <paramref name="consumed"/> is then where the buffer was examined to, else the end of the response.
    /// </summary>
    public static bool TryParse(ReadOnlySequence<byte> buffer, long maxValueBytes, out MetaResponse? response, out SequencePosition consumed)
    {
        response = null;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> lineSequence, (byte)'\n'))
        {
            if (buffer.Length > MaxLineBytes)
            {
                throw new ProtocolDesyncException($"a response line longer than {MaxLineBytes} bytes without a line end");
            }

            consumed = buffer.Start;
            return false;
        }

        if (lineSequence.Length > MaxLineBytes)
        {
            throw new ProtocolDesyncException($"a response line of {lineSequence.Length} bytes");
        }

        Span<byte> lineBuffer = stackalloc byte[(int)lineSequence.Length];
        lineSequence.CopyTo(lineBuffer);
        if (lineBuffer.Length == 0 || lineBuffer[^1] != (byte)'\r')
        {
            throw new ProtocolDesyncException("a response line not ended by CRLF");
        }

        ReadOnlySpan<byte> line = lineBuffer[..^1];
        var status = NextToken(ref line);
        MetaResponse parsed;
        if (status.SequenceEqual("VA"u8))
        {
            var sizeToken = NextToken(ref line);
            if (!Utf8Parser.TryParse(sizeToken, out long size, out var used) || used != sizeToken.Length || size < 0)
            {
                throw new ProtocolDesyncException("a VA line without a valid size");
            }

            if (size > maxValueBytes)
            {
                throw new ProtocolDesyncException($"a value of {size} bytes, over the limit of {maxValueBytes}");
            }

            if (reader.Remaining < size + 2)
            {
                consumed = buffer.Start;
                return false;
            }

            var value = new byte[size];
            reader.TryCopyTo(value);
            reader.Advance(size);
            if (!reader.IsNext("\r\n"u8, advancePast: true))
            {
                throw new ProtocolDesyncException("a value block not followed by CRLF");
            }

            parsed = WithFlags(MetaStatus.Value, line, value);
        }
        else if (status.SequenceEqual("HD"u8))
        {
            parsed = WithFlags(MetaStatus.Header, line, null);
        }
        else if (status.SequenceEqual("EN"u8))
        {
            parsed = WithFlags(MetaStatus.Miss, line, null);
        }
        else if (status.SequenceEqual("NS"u8))
        {
            parsed = WithFlags(MetaStatus.NotStored, line, null);
        }
        else if (status.SequenceEqual("EX"u8))
        {
            parsed = WithFlags(MetaStatus.Exists, line, null);
        }
        else if (status.SequenceEqual("NF"u8))
        {
            parsed = WithFlags(MetaStatus.NotFound, line, null);
        }
        else if (status.SequenceEqual("MN"u8))
        {
            parsed = new MetaResponse { Status = MetaStatus.NoOp };
        }
        else if (status.SequenceEqual("CLIENT_ERROR"u8))
        {
            parsed = new MetaResponse { Status = MetaStatus.ClientError, ErrorMessage = Message(line) };
        }
        else if (status.SequenceEqual("SERVER_ERROR"u8))
        {
            parsed = new MetaResponse { Status = MetaStatus.ServerError, ErrorMessage = Message(line) };
        }
        else if (status.SequenceEqual("ERROR"u8))
        {
            parsed = new MetaResponse { Status = MetaStatus.Error, ErrorMessage = Message(line) };
        }
        else
        {
            throw new ProtocolDesyncException($"an unknown response '{Message(status)}'");
        }

        response = parsed;
        consumed = reader.Position;
        return true;
    }

    private static MetaResponse WithFlags(MetaStatus status, ReadOnlySpan<byte> line, byte[]? value)
    {
        var flags = MetaResponseFlags.None;
        ulong? cas = null;
        long? ttl = null, size = null;
        uint? opaque = null;
        while (!line.IsEmpty)
        {
            var token = NextToken(ref line);
            if (token.IsEmpty)
            {
                continue;
            }

            var rest = token[1..];
            switch (token[0])
            {
                case (byte)'W': flags |= MetaResponseFlags.Win; break;
                case (byte)'Z': flags |= MetaResponseFlags.AlreadyWon; break;
                case (byte)'X': flags |= MetaResponseFlags.Stale; break;
                case (byte)'c': cas = ParseUnsigned(rest, 'c'); break;
                case (byte)'t': ttl = ParseSigned(rest, 't'); break;
                case (byte)'s': size = ParseSigned(rest, 's'); break;
                case (byte)'O': opaque = ParseOpaque(rest); break;
                default: break; // flags this client never asks for (f, h, l, b, k) carry nothing it uses
            }
        }

        return new MetaResponse { Status = status, Flags = flags, Value = value, Cas = cas, Ttl = ttl, Size = size, Opaque = opaque };
    }

    private static ulong ParseUnsigned(ReadOnlySpan<byte> token, char flag) =>
        Utf8Parser.TryParse(token, out ulong value, out var used) && used == token.Length
            ? value
            : throw new ProtocolDesyncException($"a return flag {flag} with the token '{Message(token)}'");

    private static uint ParseOpaque(ReadOnlySpan<byte> token) =>
        Utf8Parser.TryParse(token, out uint value, out var used) && used == token.Length
            ? value
            : throw new ProtocolDesyncException($"an opaque token '{Message(token)}' this client never sent");

    private static long ParseSigned(ReadOnlySpan<byte> token, char flag) =>
        Utf8Parser.TryParse(token, out long value, out var used) && used == token.Length
            ? value
            : throw new ProtocolDesyncException($"a return flag {flag} with the token '{Message(token)}'");

    private static ReadOnlySpan<byte> NextToken(ref ReadOnlySpan<byte> line)
    {
        var space = line.IndexOf((byte)' ');
        ReadOnlySpan<byte> token;
        if (space < 0)
        {
            token = line;
            line = default;
        }
        else
        {
            token = line[..space];
            line = line[(space + 1)..];
        }

        return token;
    }

    /// <summary>Printable ASCII only, truncated: server text goes into exception messages and logs.</summary>
    private static string Message(ReadOnlySpan<byte> bytes)
    {
        var text = bytes.Length > 200 ? bytes[..200] : bytes;
        var builder = new StringBuilder(text.Length);
        foreach (var b in text)
        {
            builder.Append(b is >= 0x20 and < 0x7f ? (char)b : '?');
        }

        return builder.ToString();
    }
}
