using System.Collections.Concurrent;
using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// Versioned keys (<see cref="CoherentMemcachedOptions.VersionedFamilies"/>), as on Redis: the key's own item holds a
/// pointer to its current version (<see cref="VersionPointer"/>) and the value lives under the version's item. The pointer
/// is the item everything else already works on — its CAS is the key's epoch, its placeholder the lease, its recache win
/// the early refresh — so fencing and leases are the plain key's, unchanged. A write stores the new version first, then
/// moves the pointer (a fill: fenced by the CAS of the read that missed), so a reader that follows the pointer never finds
/// a half-written value; the version it replaced stays readable for <see cref="CoherentMemcachedOptions.OldVersionGrace"/>
/// (a reader that read the old pointer still finds its value), then expires. A version whose pointer move was fenced out is
/// deleted: no pointer names it. Memcached runs no scripts, so a hit costs two round trips (pointer, then version).
/// </summary>
internal sealed partial class MemcachedTier
{
    /// <summary>The version the pointer named when this node read the key without a hit, by key, with the epoch it was read under.</summary>
    private readonly ConcurrentDictionary<string, (long Epoch, ulong Version)> _pointers = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether the key's family is stored as versioned keys, by the family the engine resolved for it: only declared
    /// families can be named (validated), which every node resolves alike.
    /// </summary>
    private bool IsVersioned(SharedTierKey key) => _options.VersionedFamilies.Count > 0 && _options.VersionedFamilies.Contains(key.Family);

    /// <summary>
    /// The value a pointer names, and its version; no value when the bytes are not a pointer (refused and counted: a node
    /// configured otherwise wrote them) or the version is gone (expired, evicted, its server restarted) or refused.
    /// </summary>
    private async ValueTask<(ReadOnlyMemory<byte>? Payload, ulong Version)> ResolveAsync(string key, byte[] keyUtf8, ReadOnlyMemory<byte> pointer, CancellationToken cancellationToken)
    {
        if (!VersionPointer.TryRead(pointer.Span, out var version))
        {
            Reject(key, SharedTierEnvelopeRejection.Foreign);
            return (null, 0);
        }

        var (payload, rejection) = await _store.ReadVersionedDataAsync(keyUtf8, version, cancellationToken).ConfigureAwait(false);
        if (rejection != FrameRejection.None)
        {
            Reject(key, rejection == FrameRejection.Aliased ? SharedTierEnvelopeRejection.Aliased
                : rejection == FrameRejection.Foreign ? SharedTierEnvelopeRejection.Foreign : SharedTierEnvelopeRejection.Corrupt);
        }

        return (payload, version);
    }

    /// <summary>Remembers the version a missed read's pointer named, so the fill fenced on that epoch can retire it.</summary>
    private void RememberPointer(string key, long epoch, ulong version)
    {
        if (version == 0)
        {
            return;
        }

        if (_pointers.Count >= MaxGuessedKeys)
        {
            _pointers.Clear(); // forgetting one only leaves its old version to expire with its own TTL
        }

        _pointers[key] = (epoch, version);
    }

    /// <summary>The version the pointer named under <paramref name="epoch"/>; a fence that held on that epoch proves it was still the one replaced.</summary>
    private ulong TakePointer(string key, long epoch) =>
        _pointers.TryRemove(key, out var seen) && seen.Epoch == epoch ? seen.Version : 0;

    /// <summary>
    /// The end of a versioned key's fill, once its pointer's fenced store answered (<c>MemcachedTier.Fills.cs</c>: the new
    /// version first, then the pointer): a version whose pointer move was fenced out is deleted; the version the moved
    /// pointer replaced is kept for the grace period only.
    /// </summary>
    private async ValueTask SettleVersionedFillAsync(string key, ulong version, long epoch, StoreOutcome pointer)
    {
        if (pointer != StoreOutcome.Stored)
        {
            _pointers.TryRemove(key, out _);
            await ForgetVersionAsync(key, version, delete: true).ConfigureAwait(false);
            return;
        }

        if (TakePointer(key, epoch) is var replaced and > 0)
        {
            await ForgetVersionAsync(key, replaced, delete: false).ConfigureAwait(false);
        }
    }

    /// <summary>A write-through of a versioned key: the new version, then the pointer (unconditionally); returns the pointer's new CAS.</summary>
    private async ValueTask<ulong> WriteVersionedAsync(string key, byte[] envelope, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var replaced = await PointedVersionAsync(key, cancellationToken).ConfigureAwait(false);
        var version = VersionPointer.NewVersion();
        await _store.WriteVersionedDataAsync(key, version, envelope, ttl, cancellationToken).ConfigureAwait(false);
        var cas = await _store.WriteAsync(key, VersionPointer.Write(version), ttl, cancellationToken).ConfigureAwait(false);
        if (replaced != 0)
        {
            await ForgetVersionAsync(key, replaced, delete: false).ConfigureAwait(false);
        }

        return cas;
    }

    /// <summary>An invalidation of a versioned key: the pointer deleted (which moves the epoch, as for a plain key), its version left to the grace period.</summary>
    private async ValueTask InvalidateVersionedAsync(string key, CancellationToken cancellationToken)
    {
        var replaced = await PointedVersionAsync(key, cancellationToken).ConfigureAwait(false);
        await _store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
        if (replaced != 0)
        {
            await ForgetVersionAsync(key, replaced, delete: false).ConfigureAwait(false);
        }
    }

    /// <summary>The version the key's pointer names now; 0 when there is none (a plain read: it never takes a lease).</summary>
    private async ValueTask<ulong> PointedVersionAsync(string key, CancellationToken cancellationToken)
    {
        var read = await _store.ReadAsync(key, LeaseOptions.None, cancellationToken).ConfigureAwait(false);
        return read.Payload is { } payload && VersionPointer.TryRead(payload.Span, out var version) ? version : 0;
    }

    /// <summary>
    /// A version no pointer names any more: deleted when no reader can have seen it (fenced out), else kept for the grace
    /// period. Best effort: a failure only leaves it to expire with its own TTL.
    /// </summary>
    private async ValueTask ForgetVersionAsync(string key, ulong version, bool delete)
    {
        try
        {
            if (delete)
            {
                await _store.DeleteVersionedDataAsync(key, version, _stopping.Token).ConfigureAwait(false);
            }
            else
            {
                await _store.TouchVersionedDataAsync(key, version, _options.OldVersionGrace, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is MemcachedException or OperationCanceledException or ObjectDisposedException)
        {
            MemcachedLog.ReadFailed(_logger, key + " (old version)", ex);
        }
    }
}
