using System.Buffers.Binary;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Store;

/// <summary>
/// The items of a versioned key's versions: one per version, under <c>prefix 0x00 'v' version(u64 BE) key</c> (hashed when
/// long), framed with those same bytes, so a read proves the value is this key's and this version's. They are written
/// unconditionally (a version is fresh, see <see cref="VersionPointer.NewVersion"/>); the pointer's fenced store decides
/// whether anyone ever reads them.
/// </summary>
internal sealed partial class MemcachedStore
{
    private const byte VersionDataKind = (byte)'v';

    private static byte[] VersionedName(ReadOnlySpan<byte> keyUtf8, ulong version)
    {
        var name = new byte[8 + keyUtf8.Length];
        BinaryPrimitives.WriteUInt64BigEndian(name, version);
        keyUtf8.CopyTo(name.AsSpan(8));
        return name;
    }

    /// <summary>Stores a version's payload (<c>ms</c>); oversized payloads throw <see cref="PayloadTooLargeException"/> before anything is sent.</summary>
    public async ValueTask WriteVersionedDataAsync(string key, ulong version, ReadOnlyMemory<byte> payload, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        var request = VersionedDataRequest(key, version, payload, ttl);
        _ = VersionedDataStored(await Cluster.SendAsync(request, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// The request of <see cref="WriteVersionedDataAsync"/> (unconditional <c>ms</c>), for it and for a batch of fills alike;
    /// throws <see cref="PayloadTooLargeException"/> for an oversized payload, so nothing is sent.
    /// </summary>
    public MetaRequest VersionedDataRequest(string key, ulong version, ReadOnlyMemory<byte> payload, TimeSpan ttl)
    {
        var name = VersionedName(MemcachedKey.Utf8(key), version);
        CheckSize(key, name.Length, payload.Length);
        return new MetaRequest(MetaVerb.Set, _keys.Encode(VersionDataKind, name), MetaRequestFlags.SetTtl, ItemFraming.Frame(name, payload.Span), Ttl: TtlToken(ttl));
    }

    /// <summary>The answer to a <see cref="VersionedDataRequest"/>: stored, since nothing fences a fresh version; anything else is out of step.</summary>
    public static StoreOutcome VersionedDataStored(MetaResponse response) =>
        response.Status == MetaStatus.Header ? StoreOutcome.Stored : throw new ProtocolDesyncException($"an answer {response} to ms of a version");

    /// <summary>A version's payload; null when it is gone (expired, evicted, its server restarted) or refused (with why).</summary>
    public async ValueTask<(ReadOnlyMemory<byte>? Payload, FrameRejection Rejection)> ReadVersionedDataAsync(byte[] keyUtf8, ulong version, CancellationToken cancellationToken = default)
    {
        var name = VersionedName(keyUtf8, version);
        var response = await Cluster.SendAsync(new MetaRequest(MetaVerb.Get, _keys.Encode(VersionDataKind, name), MetaRequestFlags.ReturnValue), cancellationToken).ConfigureAwait(false);
        if (response.Status == MetaStatus.Miss)
        {
            return (null, FrameRejection.None);
        }

        if (response.Status != MetaStatus.Value)
        {
            throw new ProtocolDesyncException($"an answer {response} to mg of a version");
        }

        var rejection = ItemFraming.TryRead(response.Value ?? [], name, out var payload);
        return rejection == FrameRejection.None ? (payload, rejection) : (null, rejection);
    }

    /// <summary>Sets a version's remaining TTL (<c>mg … T</c>): a superseded version kept readable for the grace period only.</summary>
    public async ValueTask TouchVersionedDataAsync(string key, ulong version, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        var wire = _keys.Encode(VersionDataKind, VersionedName(MemcachedKey.Utf8(key), version));
        var response = await Cluster.SendAsync(new MetaRequest(MetaVerb.Get, wire, MetaRequestFlags.SetTtl, Ttl: TtlToken(ttl)), cancellationToken).ConfigureAwait(false);
        if (response.Status is not (MetaStatus.Header or MetaStatus.Miss))
        {
            throw new ProtocolDesyncException($"an answer {response} to mg … T of a version");
        }
    }

    /// <summary>Deletes a version (<c>md</c>): one whose pointer move was fenced out, which nobody can ever read.</summary>
    public async ValueTask DeleteVersionedDataAsync(string key, ulong version, CancellationToken cancellationToken = default)
    {
        var wire = _keys.Encode(VersionDataKind, VersionedName(MemcachedKey.Utf8(key), version));
        var response = await Cluster.SendAsync(new MetaRequest(MetaVerb.Delete, wire, MetaRequestFlags.None), cancellationToken).ConfigureAwait(false);
        _ = IsFound(response);
    }
}
