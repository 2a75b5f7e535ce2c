using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Connections;

/// <summary>
/// One TCP connection to a Memcached server, shared by concurrent callers: requests are written in one order under a lock
/// (into an in-memory pipe a send loop drains, so concurrent requests leave in one packet when they can) and the answers,
/// which Memcached sends in request order, are matched to the line of <see cref="PendingRequest"/>s by the opaque token
/// each request carries. A caller that times out or is cancelled stops waiting, but its item stays in the line and eats its
/// late answer, so the connection stays usable. The connection is discarded (every waiting caller failed at once) only
/// when the stream can no longer be trusted: the peer closed it, a socket error, or a response that is malformed or
/// answers the wrong request.
/// </summary>
internal sealed partial class MemcachedConnection : IAsyncDisposable
{
    /// <summary>Abandoned requests still waiting for their answer beyond which a connection is treated as stalled and discarded.</summary>
    private const int MaxAbandoned = 4096;

    private readonly Socket _socket;
    private readonly Pipe _outgoing = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly PipeReader _incoming;
    private readonly Queue<PendingRequest> _line = new();
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _timeout;
    private readonly ITimer _sweeper;
    private readonly long _maxValueBytes;
    private readonly Task _sendLoop;
    private readonly Task _receiveLoop;
    private uint _nextOpaque;
    private Exception? _failure;

    private MemcachedConnection(Socket socket, string server, TimeSpan timeout, long maxValueBytes, TimeProvider time)
    {
        _socket = socket;
        Server = server;
        _timeout = timeout;
        _maxValueBytes = maxValueBytes;
        _time = time;
        _incoming = PipeReader.Create(new NetworkStream(socket, ownsSocket: false), new StreamPipeReaderOptions(minimumReadSize: 16 * 1024));
        // Deadlines are checked by one timer per connection instead of one per call: a call waits at most its timeout plus
        // one sweep period (a tenth of the timeout).
        var period = TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 10, TimeSpan.TicksPerMillisecond, 100 * TimeSpan.TicksPerMillisecond));
        _sweeper = time.CreateTimer(static s => ((MemcachedConnection)s!).Sweep(), this, period, period);
        _sendLoop = Task.Run(SendLoopAsync);
        _receiveLoop = Task.Run(ReceiveLoopAsync);
    }

    public string Server { get; }

    /// <summary>True once the connection failed: it accepts no request and must be replaced.</summary>
    public bool IsBroken => Volatile.Read(ref _failure) is not null;

    /// <summary>Requests written whose answer has not been read yet (including abandoned ones).</summary>
    public int Outstanding
    {
        get
        {
            lock (_gate)
            {
                return _line.Count;
            }
        }
    }

    public static async Task<MemcachedConnection> ConnectAsync(
        EndPoint endPoint, string server, TimeSpan connectTimeout, TimeSpan operationTimeout, long maxValueBytes, TimeProvider time, CancellationToken cancellationToken)
    {
        // A host name may resolve to IPv4 or IPv6: a dual-mode socket takes either.
        var socket = endPoint is IPEndPoint ip ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) : new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        using var timeout = new CancellationTokenSource(connectTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            await socket.ConnectAsync(endPoint, linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new ServerUnavailableException(ex is SocketException
                ? $"Memcached server {server} refused or failed the connection: {ex.Message}"
                : $"Memcached server {server} did not accept a connection within {connectTimeout.TotalMilliseconds:0} ms.", ex);
        }

        return new MemcachedConnection(socket, server, operationTimeout, maxValueBytes, time);
    }

    /// <summary>Sends one request and returns its answer. Throws <see cref="MemcachedException"/> on any failure.</summary>
    public async Task<MetaResponse> SendAsync(MetaRequest request, CancellationToken cancellationToken = default)
    {
        if (request.IsQuiet)
        {
            throw new ArgumentException("A quiet request goes in a batch (its silence is only known at the batch's closing mn).", nameof(request));
        }

        var answers = await EnqueueAsync([request], single: true, cancellationToken).ConfigureAwait(false);
        return answers[0];
    }

    /// <summary>
    /// Sends the requests back to back followed by <c>mn</c>, and returns their answers in request order (a quiet request's
    /// silence as its quiet meaning). One round trip.
    /// </summary>
    public Task<MetaResponse[]> SendBatchAsync(MetaRequest[] requests, CancellationToken cancellationToken = default) =>
        EnqueueAsync(requests, single: false, cancellationToken);

    private async Task<MetaResponse[]> EnqueueAsync(MetaRequest[] requests, bool single, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        PendingRequest pending;
        lock (_gate)
        {
            if (_failure is { } failure)
            {
                throw Unavailable(failure);
            }

            var deadline = _time.GetTimestamp() + (long)(_timeout.TotalSeconds * _time.TimestampFrequency);
            var writer = _outgoing.Writer;
            var first = _nextOpaque + 1;
            foreach (var request in requests)
            {
                request.WriteTo(writer, ++_nextOpaque);
            }

            if (single)
            {
                pending = new SinglePending(first, requests[0].Verb == MetaVerb.NoOp, deadline);
            }
            else
            {
                MetaRequest.NoOp.WriteTo(writer, 0);
                pending = new BatchPending(requests, first, deadline);
            }

            _line.Enqueue(pending);
            // The pipe never pauses its writer (pauseWriterThreshold 0), so this flush completes at once: it only wakes the send loop.
            var flush = writer.FlushAsync(CancellationToken.None);
            if (!flush.IsCompletedSuccessfully)
            {
                throw new InvalidOperationException("The outgoing pipe paused its writer, which it is configured never to do.");
            }
        }

        if (!cancellationToken.CanBeCanceled)
        {
            return await pending.Task.ConfigureAwait(false);
        }

        using (cancellationToken.UnsafeRegister(static (p, token) => ((PendingRequest)p!).Cancel(token), pending))
        {
            return await pending.Task.ConfigureAwait(false);
        }
    }

    private void Sweep()
    {
        var now = _time.GetTimestamp();
        var abandoned = 0;
        lock (_gate)
        {
            foreach (var pending in _line)
            {
                if (pending.IsAbandoned)
                {
                    abandoned++;
                }
                else if (now >= pending.Deadline)
                {
                    pending.Fail(new MemcachedTimeoutException(Server, _timeout));
                    abandoned++;
                }
            }
        }

        if (abandoned > MaxAbandoned)
        {
            Fail(new ServerUnavailableException($"Memcached server {Server} left {abandoned} requests unanswered; the connection is dropped."));
        }
    }

    /// <summary>Marks the connection broken, fails every waiting caller, and closes the socket. Idempotent.</summary>
    public void Fail(Exception reason)
    {
        PendingRequest[] waiting;
        lock (_gate)
        {
            if (_failure is not null)
            {
                return;
            }

            _failure = reason;
            waiting = [.. _line];
            _line.Clear();
            _outgoing.Writer.Complete();
        }

        foreach (var pending in waiting)
        {
            pending.Fail(Unavailable(reason));
        }

        _sweeper.Dispose();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // already reset by the peer
        }
        catch (ObjectDisposedException)
        {
            // already closed
        }

        _socket.Dispose();
    }

    private Exception Unavailable(Exception reason) =>
        reason as MemcachedException ?? new ServerUnavailableException($"The connection to Memcached server {Server} was lost: {reason.Message}", reason);

    public async ValueTask DisposeAsync()
    {
        Fail(new ServerUnavailableException($"The connection to Memcached server {Server} was closed by the client."));
        await Task.WhenAll(_sendLoop, _receiveLoop).ConfigureAwait(false);
    }
}
