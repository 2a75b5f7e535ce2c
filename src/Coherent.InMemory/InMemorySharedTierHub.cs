using Coherent.SharedTier;

namespace Coherent.InMemory;

/// <summary>
/// An in-memory shared tier for a fleet of caches in one process: the "server" that every node built with
/// <see cref="Node"/> shares. It implements the whole contract (<see cref="SharedTierGuarantees.All"/>: fenced stores,
/// an invalidation bus with confirmation, fleet leases), so an application's tests — and Coherent's own — can run
/// multi-node scenarios with fake time and no server, and inject the faults a real backend has: dropped or delayed bus
/// frames, failing or paused storage.
/// </summary>
/// <remarks>
/// The bus is ideal unless told otherwise: an invalidation reaches every other node before the writer's call returns,
/// and each node's L1 is confirmed up to now on every heartbeat. A dropped frame leaves the receiver unconfirmed from the
/// frame's time until its next heartbeat notices the loss and reconciles (drops L1 fetched before it), as a sequence gap
/// does on Redis; a delayed frame holds the receiver's confirmation at the frame's time until it is delivered.
/// </remarks>
public sealed class InMemorySharedTierHub
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, StoredEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _epochs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _tagVersions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HeldLease> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TaskCompletionSource> _fills = new(StringComparer.Ordinal);
    private readonly List<InMemorySharedTier> _nodes = [];
    private TaskCompletionSource? _paused;
    private long _clearVersion;
    private long _nextLease;
    private int _waitingOnPause;

    /// <summary>How often each node's bus confirms its L1 (and notices a lost frame). Default 100 ms.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a storage call may take before it is abandoned (a paused store). Default 1 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>While true every storage call fails (reads are unavailable, writes throw), as a server that is down.</summary>
    public bool StorageFailing { get; set; }

    /// <summary>
    /// Decides each bus frame's fate, per receiving node: deliver, drop or delay. Null (the default) delivers every frame.
    /// </summary>
    public Func<InMemoryFrame, FrameFate>? Frames { get; set; }

    /// <summary>Storage calls waiting on a <see cref="Pause"/> right now (a test advances fake time once they are).</summary>
    public int WaitingOnPause => Volatile.Read(ref _waitingOnPause);

    /// <summary>Frames dropped so far.</summary>
    public int FramesDropped { get; private set; }

    /// <summary>A shared-tier factory for one more node: give it to <see cref="CoherentCacheBuilder.WithSharedTier"/>.</summary>
    public ISharedTierFactory Node() => new Factory(this);

    /// <summary>Pauses storage: calls wait (up to <see cref="OperationTimeout"/>) until <see cref="Resume"/>.</summary>
    public void Pause()
    {
        lock (_gate)
        {
            _paused ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Ends a <see cref="Pause"/>.</summary>
    public void Resume()
    {
        TaskCompletionSource? paused;
        lock (_gate)
        {
            (paused, _paused) = (_paused, null);
        }

        paused?.TrySetResult();
    }

    /// <summary>Whether the store holds a current (unexpired, not invalidated) entry for the key: for assertions.</summary>
    public bool Holds(string key, long nowMs)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(key, out var stored) && IsCurrent(stored, nowMs);
        }
    }

    internal void Join(InMemorySharedTier node)
    {
        lock (_gate)
        {
            _nodes.Add(node);
        }
    }

    internal void Leave(InMemorySharedTier node)
    {
        lock (_gate)
        {
            _nodes.Remove(node);
        }
    }

    /// <summary>Waits out a pause, bounded by the operation timeout on the caller's clock; fails while storage is failing.</summary>
    internal async ValueTask EnterAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        Task? paused;
        lock (_gate)
        {
            paused = _paused?.Task;
        }

        if (paused is not null)
        {
            var waiting = paused.WaitAsync(OperationTimeout, time, cancellationToken); // its timeout timer exists from here
            Interlocked.Increment(ref _waitingOnPause);
            try
            {
                await waiting.ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _waitingOnPause);
            }
        }

        if (StorageFailing)
        {
            throw new TimeoutException("in-memory shared tier: storage is failing (injected)");
        }
    }

    internal SharedTierRead Read(string key, long nowMs)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out var stored))
            {
                return SharedTierRead.Miss(EpochOf(key));
            }

            return Judge(stored, nowMs) switch
            {
                SharedTierVerdict.Current => SharedTierRead.Hit(stored.Entry),
                SharedTierVerdict.Expired when nowMs < stored.Entry.RetainUntilMs => SharedTierRead.Miss(EpochOf(key), stored.Entry),
                _ => SharedTierRead.Miss(EpochOf(key)),
            };
        }
    }

    internal bool StoreIfEpoch(string key, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease)
    {
        TaskCompletionSource? filled = null;
        bool stored;
        lock (_gate)
        {
            stored = EpochOf(key) == expectedEpoch;
            if (stored)
            {
                _entries[key] = Stamp(entry, expectedEpoch);
            }

            if (lease is not null && _leases.TryGetValue(key, out var held) && held.Lease.Token == lease.Token)
            {
                _leases.Remove(key);
                _fills.Remove(key, out filled);
            }
        }

        filled?.TrySetResult();
        return stored;
    }

    internal SharedTierVersions Versions(IReadOnlyList<string>? tags)
    {
        lock (_gate)
        {
            return CurrentVersions(tags);
        }
    }

    /// <summary>The clear version and the tags' versions now (the caller holds the gate).</summary>
    private SharedTierVersions CurrentVersions(IReadOnlyList<string>? tags) =>
        new(_clearVersion, tags?.Select(t => (t, _tagVersions.GetValueOrDefault(t))).ToArray());

    internal long Set(InMemorySharedTier writer, string key, SharedTierEntry entry, long nowMs)
    {
        long epoch;
        lock (_gate)
        {
            epoch = EpochOf(key) + 1;
            _epochs[key] = epoch;
            _entries[key] = Stamp(entry, epoch);
        }

        Publish(writer, new InMemoryFrame(InMemoryFrameKind.Key, key, nowMs));
        return epoch;
    }

    internal void Invalidate(InMemorySharedTier writer, string key, long nowMs)
    {
        TaskCompletionSource? waiters;
        lock (_gate)
        {
            _epochs[key] = EpochOf(key) + 1;
            _entries.Remove(key);
            _leases.Remove(key);
            _fills.Remove(key, out waiters);
        }

        waiters?.TrySetResult();
        Publish(writer, new InMemoryFrame(InMemoryFrameKind.Key, key, nowMs));
    }

    internal void InvalidateTag(InMemorySharedTier writer, string tag, long nowMs)
    {
        lock (_gate)
        {
            _tagVersions[tag] = _tagVersions.GetValueOrDefault(tag) + 1;
        }

        Publish(writer, new InMemoryFrame(InMemoryFrameKind.Tag, tag, nowMs));
    }

    internal void Clear(InMemorySharedTier writer, long nowMs)
    {
        lock (_gate)
        {
            _clearVersion++;
        }

        Publish(writer, new InMemoryFrame(InMemoryFrameKind.Clear, "", nowMs));
    }

    internal SharedTierLease? TryAcquireLease(string key, TimeSpan leaseTime, long nowMs)
    {
        lock (_gate)
        {
            if (_leases.TryGetValue(key, out var held) && held.ExpiresAtMs > nowMs)
            {
                return null;
            }

            var lease = new SharedTierLease(key, (++_nextLease).ToString(System.Globalization.CultureInfo.InvariantCulture), EpochOf(key));
            _leases[key] = new HeldLease(lease, nowMs + (long)leaseTime.TotalMilliseconds);
            return lease;
        }
    }

    internal void ReleaseLease(SharedTierLease lease)
    {
        TaskCompletionSource? waiters = null;
        lock (_gate)
        {
            if (_leases.TryGetValue(lease.Key, out var held) && held.Lease.Token == lease.Token)
            {
                _leases.Remove(lease.Key);
                _fills.Remove(lease.Key, out waiters);
            }
        }

        waiters?.TrySetResult(); // they read again and, finding nothing, compute themselves
    }

    internal Task FillOf(string key)
    {
        lock (_gate)
        {
            if (!_leases.ContainsKey(key))
            {
                return Task.CompletedTask;
            }

            if (!_fills.TryGetValue(key, out var fill))
            {
                _fills[key] = fill = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            return fill.Task;
        }
    }

    private void Publish(InMemorySharedTier writer, InMemoryFrame frame)
    {
        InMemorySharedTier[] receivers;
        lock (_gate)
        {
            receivers = _nodes.Where(n => n != writer).ToArray();
        }

        foreach (var receiver in receivers)
        {
            var fate = Frames?.Invoke(frame with { Receiver = receiver.Name }) ?? FrameFate.Deliver;
            if (fate.Drop)
            {
                FramesDropped++;
            }

            receiver.Receive(frame, fate);
        }
    }

    private long EpochOf(string key)
    {
        if (!_epochs.TryGetValue(key, out var epoch))
        {
            _epochs[key] = epoch = 1;
        }

        return epoch;
    }

    private StoredEntry Stamp(SharedTierEntry entry, long epoch)
    {
        // A fill carries the versions captured before its factory ran; a write is stamped with the versions of now.
        var versions = entry.Versions ?? CurrentVersions(entry.Tags);
        var stamped = new SharedTierEntry
        {
            Payload = entry.Payload.ToArray(),
            CreatedAtMs = entry.CreatedAtMs,
            ExpiresAtMs = entry.ExpiresAtMs,
            RetainUntilMs = entry.RetainUntilMs,
            DeltaMs = entry.DeltaMs,
            Epoch = epoch,
            Tags = entry.Tags,
        };
        return new StoredEntry(stamped, versions);
    }

    private bool IsCurrent(StoredEntry stored, long nowMs) => Judge(stored, nowMs) == SharedTierVerdict.Current;

    private SharedTierVerdict Judge(StoredEntry stored, long nowMs) =>
        SharedTierJudge.Judge(stored.Entry.ExpiresAtMs, stored.Versions.ClearVersion, stored.Versions.Stamp(stored.Entry.Tags), nowMs, _clearVersion, _currentTagVersion ??= CurrentTagVersion);

    private SharedTierTagVersion? _currentTagVersion;

    /// <summary>Every tag has a current version here: one never bumped is at 0, which no stamp is older than.</summary>
    private bool CurrentTagVersion(string tag, out long version)
    {
        version = _tagVersions.GetValueOrDefault(tag);
        return true;
    }

    private sealed record StoredEntry(SharedTierEntry Entry, SharedTierVersions Versions);

    private sealed record HeldLease(SharedTierLease Lease, long ExpiresAtMs);

    private sealed class Factory(InMemorySharedTierHub hub) : ISharedTierFactory
    {
        public void Validate(SharedTierContext context, ICollection<string> problems)
        {
        }

        public ISharedTier Create(SharedTierContext context) => new InMemorySharedTier(hub, context.CacheName);
    }
}

/// <summary>What a bus frame announces.</summary>
public enum InMemoryFrameKind
{
    /// <summary>A key was invalidated or overwritten.</summary>
    Key,

    /// <summary>A tag was invalidated.</summary>
    Tag,

    /// <summary>The whole cache was cleared.</summary>
    Clear,
}

/// <summary>A bus frame on its way to one node.</summary>
/// <param name="Kind">What it announces.</param>
/// <param name="Name">The key or tag ("" for a clear).</param>
/// <param name="SentAtMs">When it was published (the writer's engine clock).</param>
/// <param name="Receiver">The receiving node's cache name (set when the fate is decided).</param>
public sealed record InMemoryFrame(InMemoryFrameKind Kind, string Name, long SentAtMs, string Receiver = "");

/// <summary>A frame's fate: delivered now, dropped, or delivered after a delay (on the receiver's time provider).</summary>
public readonly record struct FrameFate(bool Drop, TimeSpan Delay)
{
    /// <summary>Delivered at once.</summary>
    public static FrameFate Deliver => default;

    /// <summary>Lost.</summary>
    public static FrameFate Lost => new(true, TimeSpan.Zero);

    /// <summary>Delivered after <paramref name="delay"/>.</summary>
    public static FrameFate Delayed(TimeSpan delay) => new(false, delay);
}
