using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// Writes. A fill stores only while its key's CAS is the one its read saw (<c>ms … C&lt;cas&gt;</c>, <c>MemcachedTier.Fills.cs</c>); a write-through stores
/// unconditionally and returns the new CAS; an invalidation deletes the item (<c>md</c>), so a fill started before it finds
/// nothing to compare with and fails; tags and clear increment their counters (<c>ma</c>). A versioned key's writes go
/// through its pointer (<c>MemcachedTier.Versioned.cs</c>), with the same fences. A failed invalidation is queued and
/// retried (<c>MemcachedTier.Retries.cs</c>) and reported as <see cref="InvalidationFailedException"/>.
/// </summary>
internal sealed partial class MemcachedTier
{
    public async ValueTask<long> SetAsync(SharedTierKey sharedKey, SharedTierEntry entry, CancellationToken cancellationToken)
    {
        var key = sharedKey.Key;
        var write = KeyInvalidation(sharedKey);
        try
        {
            var envelope = await EnvelopeAsync(key, entry, entry.Epoch, cancellationToken).ConfigureAwait(false);
            var owner = Owner(key);
            var cas = write.State is true
                ? await WriteVersionedAsync(key, envelope, StorageTtl(entry), cancellationToken).ConfigureAwait(false)
                : await _store.WriteAsync(key, envelope, StorageTtl(entry), cancellationToken).ConfigureAwait(false);
            await AnnounceAsync(write, version: 0).ConfigureAwait(false);
            return Epoch(owner, cas);
        }
        catch (PayloadTooLargeException)
        {
            throw; // refused before anything was sent: the old value is untouched, nothing to retry
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The new value did not land: other nodes must at least stop reading the old one, so an invalidation is retried.
            throw Retries.Queue(write, ex);
        }
        catch (OperationCanceledException)
        {
            Retries.Requeue(write);
            throw;
        }
    }

    public ValueTask InvalidateAsync(SharedTierKey key, CancellationToken cancellationToken) => ApplyAsync(KeyInvalidation(key), cancellationToken);

    /// <summary>A key's invalidation, carrying whether the key is versioned (its state), so a retry removes the pointer too.</summary>
    private PendingInvalidation KeyInvalidation(SharedTierKey key) => PendingInvalidation.ForKey(key.Key, IsVersioned(key) ? true : null);

    public ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken) => ApplyAsync(PendingInvalidation.ForTag(tag), cancellationToken);

    public ValueTask ClearAsync(CancellationToken cancellationToken) => ApplyAsync(PendingInvalidation.ForClear(), cancellationToken);

    private async ValueTask ApplyAsync(PendingInvalidation write, CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(write, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Retries.Queue(write, ex);
        }
        catch (OperationCanceledException)
        {
            // It may or may not have landed: retried like a failed one (a retry of one that landed is harmless).
            Retries.Requeue(write);
            throw;
        }
    }

    /// <summary>
    /// Sends one invalidation (a key's item deleted, or a tag's or the clear counter incremented), then announces it on the
    /// paired bus if there is one. The retry queue sends through here too, so a write that lands late is announced then.
    /// </summary>
    private async Task SendAsync(PendingInvalidation write, CancellationToken cancellationToken)
    {
        long version = 0;
        switch (write.Kind)
        {
            case PendingInvalidationKind.Key when write.State is true:
                await InvalidateVersionedAsync(write.Name, cancellationToken).ConfigureAwait(false);
                break;
            case PendingInvalidationKind.Key:
                await _store.DeleteAsync(write.Name, cancellationToken).ConfigureAwait(false);
                break;
            case PendingInvalidationKind.Tag:
                version = (long)await _store.BumpVersionAsync(VersionKey.Tag(write.Name), cancellationToken).ConfigureAwait(false);
                Observe(VersionKey.Tag(write.Name), version, report: false);
                break;
            default:
                version = (long)await _store.BumpVersionAsync(VersionKey.Clear, cancellationToken).ConfigureAwait(false);
                Observe(VersionKey.Clear, version, report: false);
                break;
        }

        await AnnounceAsync(write, version).ConfigureAwait(false);
    }

    /// <summary>
    /// The envelope of a fill or write, signed when a signing key is set. A fill is stamped with the versions captured before
    /// its factory ran; a write with the versions Memcached holds now (a bump racing it can only make it a miss).
    /// </summary>
    private async ValueTask<byte[]> EnvelopeAsync(string key, SharedTierEntry entry, long epoch, CancellationToken cancellationToken)
    {
        if (entry.Payload.Length > _maxPayloadBytes)
        {
            throw new PayloadTooLargeException(key, entry.Payload.Length, _maxPayloadBytes);
        }

        var versions = entry.Versions ?? await CaptureVersionsAsync(entry.Tags, cancellationToken).ConfigureAwait(false);
        var data = new SharedTierEnvelopeData(entry.CreatedAtMs, entry.ExpiresAtMs, epoch, entry.DeltaMs, versions.ClearVersion, versions.Stamp(entry.Tags), entry.Payload) { Metadata = entry.Metadata };
        var envelope = SharedTierEnvelope.Write(key, data, _signingKey);
        _store.CheckSize(key, envelope.Length);
        return envelope;
    }
}
