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
/// The bus is a transport (<see cref="IInvalidationTransport"/>) under the core's protocol (<see cref="InvalidationBus"/>:
/// sequence numbers, heartbeats, gap detection, suspicion and recovery), the same protocol that runs over Redis. It is
/// ideal unless told otherwise: a frame reaches every other node before the writer's call returns, and each node's own
/// heartbeat comes back at once. A dropped frame is noticed by the protocol when the sender's next frame or heartbeat
/// arrives (a sequence gap: the receiver drops its L1 entries fetched before); a delayed frame holds back every later
/// frame to that node, its own heartbeats included, so its L1 goes unconfirmed and ages out within MaxStaleness; a
/// reordered frame is overtaken by later ones (a gap at once, unless <see cref="MayReorder"/> grants a grace period).
/// </remarks>
public sealed class InMemorySharedTierHub
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, StoredEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _epochs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _tagVersions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HeldLease> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TaskCompletionSource> _fills = new(StringComparer.Ordinal);
    private readonly List<InMemoryInvalidationTransport> _subscribers = [];
    private readonly Dictionary<string, long> _sequences = new(StringComparer.Ordinal);
    private int _framesDropped;
    private TaskCompletionSource? _paused;
    private long _clearVersion;

    /// <summary>Tag invalidations so far, any tag (moved with the tag's version, under the gate).</summary>
    private long _tagBumps;
    private long _nextLease;
    private int _waitingOnPause;

    /// <summary>How often each node publishes its heartbeat (which confirms its L1, and shows a lost frame to others). Default 100 ms.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Whether the bus may deliver one node's frames out of order, as a Redis Cluster does: the protocol then waits a grace
    /// period (two heartbeats, at least 50 ms) before declaring a missing frame lost. False (the default) models a standalone
    /// server, where a frame overtaken by a later one is a gap at once.
    /// </summary>
    public bool MayReorder { get; init; }

    /// <summary>How long a storage call may take before it is abandoned (a paused store). Default 1 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>While true every storage call fails (reads are unavailable, writes throw), as a server that is down.</summary>
    public bool StorageFailing { get; set; }

    /// <summary>
    /// Decides the fate of each invalidation frame (key, tag, clear) on its way to another node: deliver, drop, delay or
    /// reorder. Null (the default) delivers every frame. Heartbeats are always delivered.
    /// </summary>
    public Func<InMemoryFrame, FrameFate>? Frames { get; set; }

    /// <summary>Storage calls waiting on a <see cref="Pause"/> right now (a test advances fake time once they are).</summary>
    public int WaitingOnPause => Volatile.Read(ref _waitingOnPause);

    /// <summary>Frames dropped so far.</summary>
    public int FramesDropped => Volatile.Read(ref _framesDropped);

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

    internal void Subscribe(InMemoryInvalidationTransport node)
    {
        lock (_gate)
        {
            _subscribers.Add(node);
        }
    }

    internal void Unsubscribe(InMemoryInvalidationTransport node)
    {
        lock (_gate)
        {
            _subscribers.Remove(node);
        }
    }

    internal void RecordSequence(string sender, long sequence)
    {
        lock (_gate)
        {
            _sequences[sender] = sequence;
        }
    }

    internal IReadOnlyList<KeyValuePair<string, long>> Sequences()
    {
        lock (_gate)
        {
            return [.. _sequences];
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

    /// <summary>The fleet's count of tag invalidations (<see cref="ISharedTier.ReadTagBumpSequenceAsync"/>).</summary>
    internal long TagBumps()
    {
        lock (_gate)
        {
            return _tagBumps;
        }
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

    internal long Set(InMemoryInvalidationTransport writer, string frame, string key, SharedTierEntry entry, long nowMs)
    {
        long epoch;
        lock (_gate)
        {
            epoch = EpochOf(key) + 1;
            _epochs[key] = epoch;
            _entries[key] = Stamp(entry, epoch);
        }

        Publish(writer, frame, new InMemoryFrame(InMemoryFrameKind.Key, key, nowMs));
        return epoch;
    }

    internal void Invalidate(InMemoryInvalidationTransport writer, string frame, string key, long nowMs)
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
        Publish(writer, frame, new InMemoryFrame(InMemoryFrameKind.Key, key, nowMs));
    }

    /// <summary>Bumps the tag and publishes <paramref name="framePrefix"/> with the new version appended (as Redis's script does).</summary>
    internal void InvalidateTag(InMemoryInvalidationTransport writer, string framePrefix, string tag, long nowMs)
    {
        long version;
        lock (_gate)
        {
            _tagBumps++;
            _tagVersions[tag] = version = _tagVersions.GetValueOrDefault(tag) + 1;
        }

        Publish(writer, framePrefix + version.ToString(System.Globalization.CultureInfo.InvariantCulture), new InMemoryFrame(InMemoryFrameKind.Tag, tag, nowMs));
    }

    internal void Clear(InMemoryInvalidationTransport writer, string framePrefix, long nowMs)
    {
        long version;
        lock (_gate)
        {
            version = ++_clearVersion;
        }

        Publish(writer, framePrefix + version.ToString(System.Globalization.CultureInfo.InvariantCulture), new InMemoryFrame(InMemoryFrameKind.Clear, "", nowMs));
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

    /// <summary>
    /// Publishes a frame to every subscribed node, the publisher included (its own heartbeat confirms its L1). An invalidation
    /// frame (<paramref name="description"/> set) on its way to another node meets its injected fate.
    /// </summary>
    internal void Publish(InMemoryInvalidationTransport publisher, string text, InMemoryFrame? description)
    {
        InMemoryInvalidationTransport[] receivers;
        lock (_gate)
        {
            receivers = [.. _subscribers];
        }

        foreach (var receiver in receivers)
        {
            var fate = description is null || receiver == publisher ? FrameFate.Deliver
                : Frames?.Invoke(description with { Receiver = receiver.Name }) ?? FrameFate.Deliver;
            if (fate.Drop)
            {
                Interlocked.Increment(ref _framesDropped);
                continue;
            }

            receiver.Deliver(text, fate);
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
            Metadata = entry.Metadata,
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
