using System.Buffers;
using System.Buffers.Text;

namespace Coherent.Memcached.Protocol;

/// <summary>The meta commands the client speaks.</summary>
internal enum MetaVerb : byte
{
    Get,
    Set,
    Delete,
    Arithmetic,
    NoOp,
}

/// <summary>Request flags (each maps to one meta flag; the tokens they need are fields of <see cref="MetaRequest"/>).</summary>
[Flags]
internal enum MetaRequestFlags
{
    None = 0,

    /// <summary><c>v</c>: return the value.</summary>
    ReturnValue = 1 << 0,

    /// <summary><c>c</c>: return the CAS value.</summary>
    ReturnCas = 1 << 1,

    /// <summary><c>t</c>: return the remaining TTL.</summary>
    ReturnTtl = 1 << 2,

    /// <summary><c>s</c>: return the item size.</summary>
    ReturnSize = 1 << 3,

    /// <summary><c>N&lt;ttl&gt;</c>: on a miss create an empty item and win it (<c>mg</c>), or create the counter (<c>ma</c>).</summary>
    Vivify = 1 << 4,

    /// <summary><c>R&lt;ttl&gt;</c>: win the recache when the remaining TTL is below the token (<c>mg</c>).</summary>
    Recache = 1 << 5,

    /// <summary><c>C&lt;cas&gt;</c>: compare the CAS value (<c>ms</c>, <c>md</c>, <c>ma</c>).</summary>
    CompareCas = 1 << 6,

    /// <summary><c>T&lt;ttl&gt;</c>: set the TTL (<c>ms</c>, <c>ma</c>, <c>mg</c> touch, <c>md</c> with <c>I</c>).</summary>
    SetTtl = 1 << 7,

    /// <summary><c>I</c>: invalidate: <c>md</c> marks the item stale instead of removing it; <c>ms</c> stores a stale item if its CAS is older.</summary>
    Invalidate = 1 << 8,

    /// <summary><c>q</c>: quiet: the common answer (EN for <c>mg</c>, HD otherwise) is not sent; used inside an <c>mn</c>-terminated batch.</summary>
    Quiet = 1 << 9,

    /// <summary><c>J&lt;n&gt;</c> on <c>ma</c>: the initial value of an autovivified counter.</summary>
    Initial = 1 << 10,

    /// <summary><c>D&lt;n&gt;</c> on <c>ma</c>: the delta (default 1).</summary>
    Delta = 1 << 11,

    /// <summary><c>MD</c> on <c>ma</c>: decrement instead of increment.</summary>
    Decrement = 1 << 12,

    /// <summary><c>ME</c> on <c>ms</c>: add (store only when missing).</summary>
    AddOnly = 1 << 13,
}

/// <summary>
/// One meta request. <see cref="Key"/> is the key as sent: base64 text (the <c>b</c> flag is always set), at most 250 bytes,
/// built by <see cref="MemcachedKey"/>, so no key byte can ever reach the text protocol raw.
/// </summary>
internal readonly record struct MetaRequest(
    MetaVerb Verb,
    byte[] Key,
    MetaRequestFlags Flags,
    ReadOnlyMemory<byte> Value = default,
    ulong Cas = 0,
    int Ttl = 0,
    int VivifyTtl = 0,
    int RecacheTtl = 0,
    ulong Initial = 0,
    ulong Delta = 0)
{
    public static readonly MetaRequest NoOp = new(MetaVerb.NoOp, [], MetaRequestFlags.None);

    public bool IsQuiet => (Flags & MetaRequestFlags.Quiet) != 0;

    /// <summary>What a quiet request's silence means.</summary>
    public MetaResponse QuietAnswer => Verb == MetaVerb.Get ? MetaResponse.QuietMiss : MetaResponse.QuietHeader;

    /// <summary>Writes the command line (and data block for <c>ms</c>), tagged with <paramref name="opaque"/> unless it is <c>mn</c>.</summary>
    public void WriteTo(IBufferWriter<byte> writer, uint opaque)
    {
        if (Verb == MetaVerb.NoOp)
        {
            Write(writer, "mn\r\n"u8);
            return;
        }

        Write(writer, Verb switch
        {
            MetaVerb.Get => "mg "u8,
            MetaVerb.Set => "ms "u8,
            MetaVerb.Delete => "md "u8,
            _ => "ma "u8,
        });
        Write(writer, Key);
        if (Verb == MetaVerb.Set)
        {
            Number(writer, ' ', (ulong)Value.Length);
        }

        Write(writer, " b"u8);
        var f = Flags;
        Flag(writer, f, MetaRequestFlags.ReturnValue, " v"u8);
        Flag(writer, f, MetaRequestFlags.ReturnCas, " c"u8);
        Flag(writer, f, MetaRequestFlags.ReturnTtl, " t"u8);
        Flag(writer, f, MetaRequestFlags.ReturnSize, " s"u8);
        Flag(writer, f, MetaRequestFlags.Invalidate, " I"u8);
        Flag(writer, f, MetaRequestFlags.Quiet, " q"u8);
        Flag(writer, f, MetaRequestFlags.Decrement, " MD"u8);
        Flag(writer, f, MetaRequestFlags.AddOnly, " ME"u8);
        Token(writer, f, MetaRequestFlags.Vivify, 'N', (ulong)VivifyTtl);
        Token(writer, f, MetaRequestFlags.Recache, 'R', (ulong)RecacheTtl);
        Token(writer, f, MetaRequestFlags.CompareCas, 'C', Cas);
        Token(writer, f, MetaRequestFlags.SetTtl, 'T', (ulong)Ttl);
        Token(writer, f, MetaRequestFlags.Initial, 'J', Initial);
        Token(writer, f, MetaRequestFlags.Delta, 'D', Delta);
        Number(writer, ' ', opaque, 'O');
        Write(writer, "\r\n"u8);
        if (Verb == MetaVerb.Set)
        {
            Write(writer, Value.Span);
            Write(writer, "\r\n"u8);
        }
    }

    private static void Flag(IBufferWriter<byte> writer, MetaRequestFlags flags, MetaRequestFlags flag, ReadOnlySpan<byte> text)
    {
        if ((flags & flag) != 0)
        {
            Write(writer, text);
        }
    }

    private static void Token(IBufferWriter<byte> writer, MetaRequestFlags flags, MetaRequestFlags flag, char letter, ulong token)
    {
        if ((flags & flag) != 0)
        {
            Number(writer, ' ', token, letter);
        }
    }

    private static void Number(IBufferWriter<byte> writer, char separator, ulong value, char letter = '\0')
    {
        var span = writer.GetSpan(22);
        var at = 0;
        span[at++] = (byte)separator;
        if (letter != '\0')
        {
            span[at++] = (byte)letter;
        }

        Utf8Formatter.TryFormat(value, span[at..], out var written);
        writer.Advance(at + written);
    }

    private static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> bytes)
    {
        // Chunked by the writer's segments, so a 1 MB value needs no 1 MB span.
        writer.Write(bytes);
    }
}
