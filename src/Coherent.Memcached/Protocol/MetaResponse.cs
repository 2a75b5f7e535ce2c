namespace Coherent.Memcached.Protocol;

/// <summary>The status word that starts every meta response line.</summary>
internal enum MetaStatus : byte
{
    /// <summary><c>HD</c>: success, no value.</summary>
    Header,

    /// <summary><c>VA &lt;size&gt;</c>: success with a value block.</summary>
    Value,

    /// <summary><c>EN</c>: <c>mg</c> found nothing.</summary>
    Miss,

    /// <summary><c>NS</c>: not stored (an add on an existing item, a store refused).</summary>
    NotStored,

    /// <summary><c>EX</c>: the compare-and-swap value did not match.</summary>
    Exists,

    /// <summary><c>NF</c>: not found (<c>md</c>, <c>ma</c>, <c>ms</c> with a CAS, on a missing item).</summary>
    NotFound,

    /// <summary><c>MN</c>: the end marker answering <c>mn</c>.</summary>
    NoOp,

    /// <summary><c>CLIENT_ERROR &lt;message&gt;</c>: the server refused the request.</summary>
    ClientError,

    /// <summary><c>SERVER_ERROR &lt;message&gt;</c>: the server failed the request (out of memory, object too large).</summary>
    ServerError,

    /// <summary><c>ERROR</c>: the server did not know the command.</summary>
    Error,
}

/// <summary>Return flags of a meta response that carry no token.</summary>
[Flags]
internal enum MetaResponseFlags : byte
{
    None = 0,

    /// <summary><c>W</c>: this client won the right to recache the item (the lease).</summary>
    Win = 1,

    /// <summary><c>Z</c>: another client already holds the win for this item.</summary>
    AlreadyWon = 2,

    /// <summary><c>X</c>: the item is stale (invalidated by <c>md … I</c> or <c>ms … I</c>).</summary>
    Stale = 4,
}

/// <summary>
/// One parsed response. <see cref="Value"/> is a copy owned by the caller (the receive buffer is reused). Tokens not returned
/// by the server are null. <see cref="Opaque"/> echoes the request's <c>O</c> token, which the connection checks to prove the
/// stream is still in step.
/// </summary>
internal sealed class MetaResponse
{
    public static readonly MetaResponse QuietMiss = new() { Status = MetaStatus.Miss };

    public static readonly MetaResponse QuietHeader = new() { Status = MetaStatus.Header };

    public MetaStatus Status { get; init; }

    public MetaResponseFlags Flags { get; init; }

    public byte[]? Value { get; init; }

    public ulong? Cas { get; init; }

    /// <summary>Remaining TTL in seconds (<c>t</c>); -1 means no expiry.</summary>
    public long? Ttl { get; init; }

    public long? Size { get; init; }

    public uint? Opaque { get; init; }

    /// <summary>The message of CLIENT_ERROR and SERVER_ERROR.</summary>
    public string? ErrorMessage { get; init; }

    public bool Win => (Flags & MetaResponseFlags.Win) != 0;

    public bool AlreadyWon => (Flags & MetaResponseFlags.AlreadyWon) != 0;

    public bool Stale => (Flags & MetaResponseFlags.Stale) != 0;

    public bool IsError => Status is MetaStatus.ClientError or MetaStatus.ServerError or MetaStatus.Error;

    public override string ToString() => $"{Status} flags={Flags} cas={Cas} ttl={Ttl} size={Value?.Length ?? Size} opaque={Opaque} {ErrorMessage}";
}
