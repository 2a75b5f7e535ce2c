using Coherent.Policies;

namespace Coherent;

public sealed partial class CoherentCache
{
    /// <inheritdoc />
    public async ValueTask SetAsync<T>(string key, T value, CacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        KeyRules.ValidateFull(key, _maxKeyLength);
        cancellationToken.ThrowIfCancellationRequested();
        var family = _families.Resolve(key);
        KeyRules.ValidateTags(options?.Tags);
        var (tags, stamps) = _tags.Snapshot(options?.Tags);
        var now = _clock.PreciseNowMs();
        var (entry, payload) = CreateEntry(key, family, value, now, now, 0, options, tags, stamps, _tags.ClearVersion, 0);

        // A factory running now computed from data older than this write: it must not overwrite it.
        FenceFlight(key);
        family.Stats.Writes.Increment();
        if (_tier is not null && options?.LocalOnly != true)
        {
            payload ??= Serialization.SerializerGuard.Serialize(_serializer, key, value, _maxPayloadBytes);
            _l1.Remove(key);
            try
            {
                entry = await SetSharedAsync(key, entry, payload, options, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                FenceAndDrop(key); // again: see FenceAndDrop
            }
        }

        if (options?.SkipLocalWrite == true)
        {
            _l1.Remove(key); // the older local value must not outlive this write
        }
        else
        {
            _l1.Set(entry);
        }
    }

    /// <inheritdoc />
    public async ValueTask InvalidateAsync(string key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        KeyRules.ValidateFull(key, _maxKeyLength);
        var family = _families.Resolve(key);
        family.Stats.Invalidations.Increment();

        FenceAndDrop(key);
        if (_tier is not null)
        {
            try
            {
                await InvalidateSharedAsync(key, family, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                FenceAndDrop(key); // again: see FenceAndDrop
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        KeyRules.ValidateTag(tag);

        // Entries and running flights hold the tag's version from when they started; bumping it voids both.
        Interlocked.Increment(ref _versionWritesInFlight);
        try
        {
            _tags.Bump(tag);
            if (_tier is not null)
            {
                await InvalidateTagSharedAsync(tag, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _versionWritesInFlight);
        }
    }

    /// <inheritdoc />
    public async ValueTask ClearAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        Interlocked.Increment(ref _versionWritesInFlight);
        try
        {
            _tags.BumpClear();
            _flights.FenceAll();
            _l1.Clear();
            if (_tier is not null)
            {
                await ClearSharedAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _versionWritesInFlight);
        }
    }

    /// <summary>
    /// Fences the key's running flight, then drops the key from L1: a flight storing concurrently either sees the fence or has
    /// stored already (and is removed here). For an invalidation from the bus, and for this node's own writes twice — before
    /// the shared-tier call, and again once it is over: this node ignores its own bus message, and a flight that began after
    /// the first fence may have read the shared tier before the write landed; without the second, it would put the old value
    /// into this node's L1 after the write returned, where heartbeats keep confirming it until the key's next invalidation.
    /// </summary>
    private void FenceAndDrop(string key)
    {
        FenceFlight(key);
        _l1.Remove(key);
    }

    private void FenceFlight(string key)
    {
        if (_flights.TryGet(key, out var flight))
        {
            flight.Fence();
        }
    }

    void SharedTier.ISharedTierHost.OnRemoteInvalidated(string key) => FenceAndDrop(key);

    void SharedTier.ISharedTierHost.OnRemoteTagInvalidated(string tag) => _tags.Bump(tag);

    void SharedTier.ISharedTierHost.OnRemoteCleared()
    {
        _tags.BumpClear();
        _flights.FenceAll();
        _l1.Clear();
    }

    void SharedTier.ISharedTierHost.SetConfirmedUpTo(long ms) => Volatile.Write(ref _confirmedUpToMs, ms);

    int SharedTier.ISharedTierHost.DropLocalEntriesFetchedBefore(long ms)
    {
        Interlocked.Increment(ref _reconciliations); // before the removal: a read filling after it must see the change
        var dropped = _l1.RemoveWhere(static (e, before) => e.FetchedAtMs < before, ms);
        Telemetry.Log.LocalEntriesDropped(_logger, dropped, DateTimeOffset.FromUnixTimeMilliseconds(ms));
        return dropped;
    }
}
