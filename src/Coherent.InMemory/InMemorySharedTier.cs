using Coherent.SharedTier;

namespace Coherent.InMemory;

/// <summary>One node's view of an <see cref="InMemorySharedTierHub"/>: storage calls go to the hub, bus frames come from it.</summary>
internal sealed class InMemorySharedTier(InMemorySharedTierHub hub, string name) : ISharedTier
{
    private readonly Lock _bus = new();
    private readonly SortedDictionary<long, int> _inFlight = []; // frames delayed on their way here, by send time
    private ISharedTierHost? _host;
    private ITimer? _heartbeat;
    private long _lostSinceMs = -1;
    private int _failing;

    public string Name { get; } = name;

    public SharedTierGuarantees Guarantees => SharedTierGuarantees.All;

    public SharedTierState State => Volatile.Read(ref _failing) == 1 ? SharedTierState.Unavailable
        : Volatile.Read(ref _lostSinceMs) >= 0 ? SharedTierState.Degraded : SharedTierState.Healthy;

    public long PendingInvalidations => 0;

    private ISharedTierHost Host => _host ?? throw new InvalidOperationException("The tier is not started.");

    public void Start(ISharedTierHost host)
    {
        _host = host;
        hub.Join(this);
        _heartbeat = host.TimeProvider.CreateTimer(static s => ((InMemorySharedTier)s!).Heartbeat(), this, hub.HeartbeatInterval, hub.HeartbeatInterval);
        Heartbeat();
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

    public async ValueTask<long> SetAsync(SharedTierKey key, SharedTierEntry entry, CancellationToken cancellationToken)
    {
        await EnterForWriteAsync(cancellationToken).ConfigureAwait(false);
        return hub.Set(this, key.Key, entry, Host.NowMs());
    }

    public async ValueTask InvalidateAsync(SharedTierKey key, CancellationToken cancellationToken)
    {
        await EnterForInvalidationAsync("key " + key.Key, cancellationToken).ConfigureAwait(false);
        hub.Invalidate(this, key.Key, Host.NowMs());
    }

    public async ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        await EnterForInvalidationAsync("tag " + tag, cancellationToken).ConfigureAwait(false);
        hub.InvalidateTag(this, tag, Host.NowMs());
    }

    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        await EnterForInvalidationAsync("the whole cache", cancellationToken).ConfigureAwait(false);
        hub.Clear(this, Host.NowMs());
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

    /// <summary>A frame published by another node: applied now, after its delay, or lost (noticed at the next heartbeat).</summary>
    internal void Receive(InMemoryFrame frame, FrameFate fate)
    {
        if (fate.Drop)
        {
            lock (_bus)
            {
                if (_lostSinceMs < 0)
                {
                    _lostSinceMs = frame.SentAtMs;
                }
            }

            return;
        }

        if (fate.Delay <= TimeSpan.Zero)
        {
            Apply(frame);
            return;
        }

        lock (_bus)
        {
            _inFlight[frame.SentAtMs] = _inFlight.GetValueOrDefault(frame.SentAtMs) + 1;
        }

        ITimer? timer = null;
        timer = Host.TimeProvider.CreateTimer(_ =>
        {
            Apply(frame);
            lock (_bus)
            {
                if (--_inFlight[frame.SentAtMs] == 0)
                {
                    _inFlight.Remove(frame.SentAtMs);
                }
            }

            timer?.Dispose();
        }, null, fate.Delay, Timeout.InfiniteTimeSpan);
    }

    private void Apply(InMemoryFrame frame)
    {
        switch (frame.Kind)
        {
            case InMemoryFrameKind.Key:
                Host.OnRemoteInvalidated(frame.Name);
                Host.RecordInvalidationLag(frame.Name, Host.NowMs() - frame.SentAtMs);
                break;
            case InMemoryFrameKind.Tag:
                Host.OnRemoteTagInvalidated(frame.Name);
                break;
            default:
                Host.OnRemoteCleared();
                break;
        }
    }

    /// <summary>
    /// Confirms L1 up to now, unless a frame is still on its way (then up to its send time), or was lost: then, as a sequence
    /// gap on Redis, everything fetched before now is dropped first and confirmation resumes.
    /// </summary>
    private void Heartbeat()
    {
        var now = Host.NowMs();
        bool lost;
        long confirmed;
        lock (_bus)
        {
            lost = _lostSinceMs >= 0;
            _lostSinceMs = -1;
            confirmed = _inFlight.Count > 0 ? _inFlight.Keys.First() : now;
        }

        if (lost)
        {
            Host.DropLocalEntriesFetchedBefore(now);
        }

        Host.SetConfirmedUpTo(confirmed);
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
        hub.Leave(this);
        if (_heartbeat is not null)
        {
            await _heartbeat.DisposeAsync().ConfigureAwait(false);
        }
    }
}
