using System.Net;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Connections;

/// <summary>
/// One Memcached server: its address, its circuit breaker and a small pool of pipelined connections, used round-robin
/// (each connection carries many concurrent requests, so a few suffice). A broken connection is replaced on next use; when
/// the breaker opens, every connection is dropped so that no caller keeps waiting on a dead peer.
/// </summary>
internal sealed class ServerNode : IAsyncDisposable
{
    private readonly Task<MemcachedConnection>?[] _slots;
    private readonly ClientSettings _settings;
    private readonly object _gate = new();
    private uint _next;
    private bool _disposed;
    private long _singles;
    private long _batches;

    public ServerNode(ServerAddress address, ClientSettings settings)
    {
        Address = address;
        _settings = settings;
        _slots = new Task<MemcachedConnection>?[settings.PoolSize];
        Health = new ServerHealth(settings.BreakerFailureThreshold);
        Health.WentDown += DropConnections;
    }

    public ServerAddress Address { get; }

    public ServerHealth Health { get; }

    public string Name => Address.ToString();

    /// <summary>Requests sent alone, and batches sent, since the start (tests and diagnostics: a bulk read is one batch per server).</summary>
    public (long Singles, long Batches) Sent => (Interlocked.Read(ref _singles), Interlocked.Read(ref _batches));

    /// <summary>Sends one request on a pooled connection, feeding the breaker with the outcome.</summary>
    public Task<MetaResponse> SendAsync(MetaRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _singles);
        return RunAsync(static (c, r, ct) => c.SendAsync(r, ct), request, cancellationToken);
    }

    /// <summary>Sends a batch (one round trip) on a pooled connection.</summary>
    public Task<MetaResponse[]> SendBatchAsync(MetaRequest[] requests, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _batches);
        return RunAsync(static (c, r, ct) => c.SendBatchAsync(r, ct), requests, cancellationToken);
    }

    private async Task<TResult> RunAsync<TArg, TResult>(
        Func<MemcachedConnection, TArg, CancellationToken, Task<TResult>> send, TArg argument, CancellationToken cancellationToken)
    {
        if (Health.IsDown)
        {
            throw new ServerUnavailableException($"Memcached server {Name} is marked down (its circuit breaker is open).");
        }

        try
        {
            var connection = await GetConnectionAsync(cancellationToken).ConfigureAwait(false);
            var result = await send(connection, argument, cancellationToken).ConfigureAwait(false);
            Health.OnSuccess();
            return result;
        }
        catch (MemcachedException ex) when (ex.IsConnectivityFailure)
        {
            Health.OnFailure();
            throw;
        }
        catch (MemcachedServerErrorException)
        {
            Health.OnSuccess(); // it answered
            throw;
        }
    }

    private Task<MemcachedConnection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        var index = (int)(Interlocked.Increment(ref _next) % (uint)_slots.Length);
        var slot = Volatile.Read(ref _slots[index]);
        if (slot is { IsCompletedSuccessfully: true } && !slot.Result.IsBroken)
        {
            return slot;
        }

        if (slot is { IsCompleted: false })
        {
            return slot; // a connect in flight: share it
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            slot = _slots[index];
            if (slot is null || slot.IsFaulted || slot.IsCanceled || (slot.IsCompletedSuccessfully && slot.Result.IsBroken))
            {
                // The connect does not take the caller's token: others share this task, and one caller's cancel must not fail them.
                slot = MemcachedConnection.ConnectAsync(
                    Address.EndPoint, Name, _settings.ConnectTimeout, _settings.OperationTimeout, _settings.MaxValueBytes, _settings.Time, CancellationToken.None);
                _slots[index] = slot;
            }
        }

        return cancellationToken.CanBeCanceled ? slot.WaitAsync(cancellationToken) : slot;
    }

    /// <summary>Fails and forgets every open connection (their waiting callers fail now instead of at their deadline).</summary>
    public void DropConnections()
    {
        Task<MemcachedConnection>?[] slots;
        lock (_gate)
        {
            slots = [.. _slots];
            Array.Clear(_slots);
        }

        foreach (var slot in slots)
        {
            // A connect still in flight is closed when it lands: nothing else holds it any more.
            slot?.ContinueWith(
                static (t, name) => t.Result.Fail(new ServerUnavailableException($"Memcached server {name} was marked down.")),
                Name, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task<MemcachedConnection>?[] slots;
        lock (_gate)
        {
            _disposed = true;
            slots = [.. _slots];
            Array.Clear(_slots);
        }

        foreach (var slot in slots)
        {
            if (slot is null)
            {
                continue;
            }

            try
            {
                await (await slot.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            }
            catch (MemcachedException)
            {
                // never connected
            }
        }
    }
}

/// <summary>A server as configured: where it is and its share of the ring.</summary>
internal sealed record ServerAddress(string Host, int Port, int Weight)
{
    public EndPoint EndPoint { get; } = IPAddress.TryParse(Host, out var ip) ? new IPEndPoint(ip, Port) : new DnsEndPoint(Host, Port);

    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>The client's settings, taken from <see cref="CoherentMemcachedOptions"/> once validated.</summary>
internal sealed record ClientSettings(
    TimeSpan OperationTimeout,
    TimeSpan ConnectTimeout,
    int PoolSize,
    int BreakerFailureThreshold,
    TimeSpan ProbeInterval,
    long MaxValueBytes,
    TimeProvider Time,
    int MaxKeysPerBatch = 256);
