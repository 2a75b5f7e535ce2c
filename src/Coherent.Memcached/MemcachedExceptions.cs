using Coherent.Memcached.Protocol;

namespace Coherent.Memcached;

/// <summary>
/// Base of every failure of the Memcached client. Internal: the tier turns these into Coherent's typed exceptions (or a
/// miss), so no caller of the cache ever sees one.
/// </summary>
internal abstract class MemcachedException : Exception
{
    protected MemcachedException(string message, Exception? innerException = null) : base(message, innerException) { }

    /// <summary>True when the server is unreachable or stalled (counts toward its circuit breaker); false for an answer it refused.</summary>
    public abstract bool IsConnectivityFailure { get; }
}

/// <summary>The server did not answer within the operation timeout. The connection stays in step (the late answer is dropped).</summary>
internal sealed class MemcachedTimeoutException(string server, TimeSpan timeout)
    : MemcachedException($"Memcached server {server} did not answer within {timeout.TotalMilliseconds:0} ms.")
{
    public override bool IsConnectivityFailure => true;
}

/// <summary>The server cannot be used: connect failed or timed out, the connection was lost, or its breaker is open.</summary>
internal sealed class ServerUnavailableException(string message, Exception? innerException = null) : MemcachedException(message, innerException)
{
    public override bool IsConnectivityFailure => true;
}

/// <summary>
/// Bytes from the server that are not a well-formed meta response, or an answer not to the request at the head of the line:
/// nothing later on that connection can be trusted, so it is discarded.
/// </summary>
internal sealed class ProtocolDesyncException(string what) : MemcachedException($"The Memcached response stream is out of step: {what}.")
{
    public override bool IsConnectivityFailure => true;
}

/// <summary>The server answered CLIENT_ERROR, SERVER_ERROR or ERROR (it is alive; the request was refused).</summary>
internal sealed class MemcachedServerErrorException(MetaResponse response)
    : MemcachedException($"Memcached answered {response.Status}: {response.ErrorMessage}")
{
    public MetaResponse Response { get; } = response;

    public override bool IsConnectivityFailure => false;
}
