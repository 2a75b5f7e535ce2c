using Coherent.Policies;

namespace Coherent;

/// <summary>Writes and invalidations: argument checks here, the fencing and its order in the <see cref="Invalidation.InvalidationGate"/>.</summary>
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
        var (entry, payload) = _entries.Create(key, family, value, now, now, 0, options, tags, stamps, _tags.ClearVersion, 0);

        _gate.BeginWrite(key);
        _events.Written(family);
        if (_shared is not null && options?.LocalOnly != true)
        {
            payload ??= _entries.Serialize(key, value);
            _gate.Drop(key);
            try
            {
                entry = await _shared.SetAsync(entry, payload, options, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _gate.FenceAndDrop(key); // again: see InvalidationGate.FenceAndDrop
            }
        }

        _gate.EndWrite(entry, keepLocal: options?.SkipLocalWrite != true);
    }

    /// <inheritdoc />
    public async ValueTask InvalidateAsync(string key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        KeyRules.ValidateFull(key, _maxKeyLength);
        var family = _families.Resolve(key);
        _events.Invalidated(family);

        _gate.FenceAndDrop(key);
        if (_shared is not null)
        {
            try
            {
                await _shared.InvalidateAsync(key, family, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _gate.FenceAndDrop(key); // again: see InvalidationGate.FenceAndDrop
            }
        }
    }

    /// <inheritdoc />
    public ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        KeyRules.ValidateTag(tag);
        return _gate.InvalidateTagAsync(tag, _shared, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask ClearAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _gate.ClearAsync(_shared, cancellationToken);
    }

    void SharedTier.ISharedTierHost.OnRemoteInvalidated(string key) => _gate.OnRemoteInvalidated(key);

    void SharedTier.ISharedTierHost.OnRemoteTagInvalidated(string tag) => _gate.OnRemoteTagInvalidated(tag);

    void SharedTier.ISharedTierHost.OnRemoteCleared() => _gate.OnRemoteCleared();

    void SharedTier.ISharedTierHost.SetConfirmedUpTo(long ms) => Volatile.Write(ref _confirmedUpToMs, ms);

    int SharedTier.ISharedTierHost.DropLocalEntriesFetchedBefore(long ms) => _gate.DropFetchedBefore(ms);

    void SharedTier.ISharedTierHost.RecordInvalidationLag(string key, double lagMs) => _events.InvalidationLag(_families, key, lagMs);
}
