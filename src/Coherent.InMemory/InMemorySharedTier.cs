using Coherent.SharedTier;

namespace Coherent.InMemory;

/// <summary>
/// One node's view of an <see cref="InMemorySharedTierHub"/>: storage calls go to the hub; the bus is the core's protocol
/// (<see cref="InvalidationBus"/>) over the hub's frames (<see cref="InMemoryInvalidationTransport"/>).
/// </summary>
internal sealed class InMemorySharedTier(InMemorySharedTierHub hub, string name) : ISharedTier
{
    private ISharedTierHost? _host;
    private InMemoryInvalidationTransport? _transport;
    private InvalidationBus? _bus;
    private int _failing;

    public string Name { get; } = name;

    public SharedTierGuarantees Guarantees => SharedTierGuarantees.All;

    public SharedTierState State => Volatile.Read(ref _failing) == 1 ? SharedTierState.Unavailable
        : _bus is { Suspect: true } ? SharedTierState.Degraded : SharedTierState.Healthy;

    public long PendingInvalidations => 0;

    /// <summary>The node's bus (tests: gaps detected, confirmation).</summary>
    internal InvalidationBus? Bus => _bus;

    private ISharedTierHost Host => _host ?? throw new InvalidOperationException("The tier is not started.");

    private InMemoryInvalidationTransport Transport => _transport ?? throw new InvalidOperationException("The tier is not started.");

    private InvalidationBus StartedBus => _bus ?? throw new InvalidOperationException("The tier is not started.");

    public void Start(ISharedTierHost host)
    {
        _host = host;
        _transport = new InMemoryInvalidationTransport(hub, Name, host.TimeProvider);
        _bus = new InvalidationBus(host, _transport, new InvalidationBusOptions { HeartbeatInterval = hub.HeartbeatInterval });
        _bus.Start();
    }

    public async ValueTask<SharedTierRead> ReadAsync(SharedTierKey key, CancellationToken cancellationToken)
    {
        try
        {
            await hub.EnterAsync(Host.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            Volatile.Write(ref _failing, 1);
            return SharedTierRead.Unavailable;
        }

        Volatile.Write(ref _failing, 0);
        return hub.Read(key.Key, Host.NowMs());
    }

    public ValueTask<SharedTierRead> LookupAsync(SharedTierKey key, CancellationToken cancellationToken) => ReadAsync(key, cancellationToken);

    public async ValueTask<bool> StoreIfEpochAsync(SharedTierKey key, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease, CancellationToken cancellationToken)
    {
        await EnterForWriteAsync(cancellationToken).ConfigureAwait(false);
        return hub.StoreIfEpoch(key.Key, entry, expectedEpoch, lease);
    }

    public async ValueTask<SharedTierVersions> CaptureVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken)
    {
        await EnterForWriteAsync(cancellationToken).ConfigureAwait(false);
        return hub.Versions(tags);
    }

    public async ValueTask<long?> ReadTagBumpSequenceAsync(CancellationToken cancellationToken)
    {
        await EnterForWriteAsync(cancellationToken).ConfigureAwait(false);
        return hub.TagBumps();
    }

    public async ValueTask<long> SetAsync(SharedTierKey key, SharedTierEntry entry, CancellationToken cancellationToken)
    {
        await EnterForWriteAsync(cancellationToken).ConfigureAwait(false);
        return StartedBus.SendInvalidation(key.Key, frame => hub.Set(Transport, frame, key.Key, entry, Host.NowMs()));
    }

    public async ValueTask InvalidateAsync(SharedTierKey key, CancellationToken cancellationToken)
    {
        await EnterForInvalidationAsync("key " + key.Key, cancellationToken).ConfigureAwait(false);
        StartedBus.SendInvalidation(key.Key, frame => Published(() => hub.Invalidate(Transport, frame, key.Key, Host.NowMs())));
    }

    public async ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        await EnterForInvalidationAsync("tag " + tag, cancellationToken).ConfigureAwait(false);
        StartedBus.SendTagInvalidation(tag, frame => Published(() => hub.InvalidateTag(Transport, frame, tag, Host.NowMs())));
    }

    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        await EnterForInvalidationAsync("the whole cache", cancellationToken).ConfigureAwait(false);
        StartedBus.SendClear(frame => Published(() => hub.Clear(Transport, frame, Host.NowMs())));
    }

    public async ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        await EnterForWriteAsync(cancellationToken).ConfigureAwait(false);
        return hub.TryAcquireLease(key, leaseTime, Host.NowMs());
    }

    public async ValueTask ReleaseLeaseAsync(SharedTierLease lease, CancellationToken cancellationToken)
    {
        await EnterForWriteAsync(cancellationToken).ConfigureAwait(false);
        hub.ReleaseLease(lease);
    }

    public async ValueTask<bool> WaitForFillAsync(string key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await hub.FillOf(key).WaitAsync(timeout, Host.TimeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Runs a write that publishes its frame (the bus's send methods want a result).</summary>
    private static bool Published(Action write)
    {
        write();
        return true;
    }

    private async ValueTask EnterForWriteAsync(CancellationToken cancellationToken)
    {
        try
        {
            await hub.EnterAsync(Host.TimeProvider, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _failing, 0);
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            Volatile.Write(ref _failing, 1);
            throw new TimeoutException("in-memory shared tier: storage did not answer", ex);
        }
    }

    private async ValueTask EnterForInvalidationAsync(string target, CancellationToken cancellationToken)
    {
        try
        {
            await EnterForWriteAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new InvalidationFailedException($"The invalidation of {target} did not reach the in-memory shared tier: {ex.Message}", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            await _bus.DisposeAsync().ConfigureAwait(false);
        }
    }
}
