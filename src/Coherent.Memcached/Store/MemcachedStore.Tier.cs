using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Store;

/// <summary>The operations the shared tier needs besides reads and fenced stores: a write that returns its CAS, CAS-checked deletes and invalidations, a touch, and a batch of version reads.</summary>
internal sealed partial class MemcachedStore
{
    /// <summary>
    /// Stores a payload unconditionally (<c>ms … c</c>) and returns the item's new CAS: every fill fenced on the CAS it had
    /// before fails from then on. Oversized payloads throw <see cref="PayloadTooLargeException"/> before anything is sent.
    /// </summary>
    public async ValueTask<ulong> WriteAsync(string key, ReadOnlyMemory<byte> payload, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        var keyUtf8 = MemcachedKey.Utf8(key);
        CheckSize(key, keyUtf8.Length, payload.Length);
        var request = new MetaRequest(MetaVerb.Set, _keys.Encode(DataKind, keyUtf8), MetaRequestFlags.SetTtl | MetaRequestFlags.ReturnCas,
            ItemFraming.Frame(keyUtf8, payload.Span), Ttl: TtlToken(ttl));
        var response = await Cluster.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Status == MetaStatus.Header && response.Cas is { } cas)
        {
            return cas;
        }

        throw new ProtocolDesyncException($"an answer {response} to ms … c");
    }

    /// <summary>Deletes the key only while its CAS is still <paramref name="cas"/> (<c>md … C</c>): a lease released without a fill. False when it changed or is gone.</summary>
    public ValueTask<bool> DeleteIfAsync(string key, ulong cas, CancellationToken cancellationToken = default) =>
        DeleteIfAsync(key, cas, MetaRequestFlags.CompareCas, cancellationToken);

    /// <summary>
    /// Marks the key stale only while its CAS is still <paramref name="cas"/> (<c>md … I C T</c>), for <paramref name="staleTtl"/>:
    /// a value kept past its expiry for fail-safe becomes a lease the next read wins with the value (<c>X W</c>) while the
    /// others get it marked stale (<c>X Z</c>). The short TTL bounds how long a winner that dies leaves it won; the winner
    /// extends it to its lease time, and a release stores the value back for its full retention.
    /// </summary>
    public ValueTask<bool> InvalidateIfAsync(string key, ulong cas, TimeSpan staleTtl, CancellationToken cancellationToken = default) =>
        DeleteIfAsync(key, cas, MetaRequestFlags.CompareCas | MetaRequestFlags.Invalidate | MetaRequestFlags.SetTtl, cancellationToken, TtlToken(staleTtl));

    private async ValueTask<bool> DeleteIfAsync(string key, ulong cas, MetaRequestFlags flags, CancellationToken cancellationToken, int ttl = 0)
    {
        var response = await Cluster.SendAsync(new MetaRequest(MetaVerb.Delete, DataKey(key), flags, Cas: cas, Ttl: ttl), cancellationToken).ConfigureAwait(false);
        return response.Status switch
        {
            MetaStatus.Header => true,
            MetaStatus.Exists or MetaStatus.NotFound => false,
            _ => throw new ProtocolDesyncException($"an answer {response} to md … C"),
        };
    }

    /// <summary>Sets the key's remaining TTL (<c>mg … T</c>, no value): a lease placeholder kept as long as its holder computes.</summary>
    public async ValueTask TouchAsync(string key, TimeSpan ttl, CancellationToken cancellationToken = default) =>
        _ = Touched(await Cluster.SendAsync(TouchRequest(key, ttl), cancellationToken).ConfigureAwait(false));

    /// <summary>The request of <see cref="TouchAsync"/>, for it and for a batch of leases alike.</summary>
    public MetaRequest TouchRequest(string key, TimeSpan ttl) => new(MetaVerb.Get, DataKey(key), MetaRequestFlags.SetTtl, Ttl: TtlToken(ttl));

    /// <summary>The answer to a <see cref="TouchRequest"/>: touched (true) or gone (false); anything else is out of step.</summary>
    public static bool Touched(MetaResponse response) => response.Status switch
    {
        MetaStatus.Header => true,
        MetaStatus.Miss => false,
        _ => throw new ProtocolDesyncException($"an answer {response} to mg … T"),
    };

    /// <summary>Reads version counters (as <see cref="ReadVersionAsync"/>) in one round trip per server, in the order asked.</summary>
    public async ValueTask<ulong[]> ReadVersionsAsync(IReadOnlyList<VersionKey> versions, CancellationToken cancellationToken = default)
    {
        var requests = new MetaRequest[versions.Count];
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i] = VersionRequest(versions[i], bump: false);
        }

        var responses = await Cluster.SendManyAsync(requests, cancellationToken).ConfigureAwait(false);
        var values = new ulong[responses.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = ParseCounter(responses[i]);
        }

        return values;
    }
}
