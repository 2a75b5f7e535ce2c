using System.Buffers.Text;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Store;

internal sealed partial class MemcachedStore
{
    private byte[]? _clearWireKey;

    /// <summary>
    /// Increments a version counter (<c>ma … N0 J&lt;seed&gt; v</c>) and returns its new value. A counter that does not exist
    /// (never bumped, evicted, or its server restarted empty) is created at the seed: the current time in microseconds. So a
    /// counter that comes back always starts above any value it had before (short of a million bumps a second), and an entry
    /// stamped with an old version can never become valid again.
    /// </summary>
    public async ValueTask<ulong> BumpVersionAsync(VersionKey version, CancellationToken cancellationToken = default)
    {
        var response = await Cluster.SendAsync(VersionRequest(version, bump: true), cancellationToken).ConfigureAwait(false);
        return ParseCounter(response);
    }

    /// <summary>Reads a version counter (<c>ma … D0</c>: an increment by zero that creates it at the seed when missing).</summary>
    public async ValueTask<ulong> ReadVersionAsync(VersionKey version, CancellationToken cancellationToken = default)
    {
        var response = await Cluster.SendAsync(VersionRequest(version, bump: false), cancellationToken).ConfigureAwait(false);
        return ParseCounter(response);
    }

    /// <summary>
    /// Reads an entry (as <see cref="ReadAsync"/>) together with version counters (as <see cref="ReadVersionAsync"/>): one
    /// batch per server involved, all sent at once, so one round trip. The versions come back in the order asked.
    /// </summary>
    public ValueTask<ReadWithVersions> ReadWithVersionsAsync(
        string key, LeaseOptions lease, IReadOnlyList<VersionKey> versions, CancellationToken cancellationToken = default)
    {
        var keyUtf8 = MemcachedKey.Utf8(key);
        return ReadWithVersionsAsync(keyUtf8, _keys.Encode(DataKind, keyUtf8), lease, versions, cancellationToken);
    }

    /// <summary>As above, for a caller that already encoded the key (<see cref="DataKey(byte[])"/>) to route it.</summary>
    public async ValueTask<ReadWithVersions> ReadWithVersionsAsync(
        byte[] keyUtf8, byte[] wireKey, LeaseOptions lease, IReadOnlyList<VersionKey> versions, CancellationToken cancellationToken = default)
    {
        var requests = new MetaRequest[versions.Count + 1];
        requests[0] = ReadRequest(wireKey, lease, quiet: false);
        for (var i = 0; i < versions.Count; i++)
        {
            requests[i + 1] = VersionRequest(versions[i], bump: false);
        }

        var responses = await Cluster.SendManyAsync(requests, cancellationToken).ConfigureAwait(false);
        var values = new ulong[versions.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = ParseCounter(responses[i + 1]);
        }

        return new ReadWithVersions(ToLeaseRead(responses[0], keyUtf8), values);
    }

    private MetaRequest VersionRequest(VersionKey version, bool bump)
    {
        var flags = MetaRequestFlags.Vivify | MetaRequestFlags.Initial | MetaRequestFlags.ReturnValue | (bump ? 0 : MetaRequestFlags.Delta);
        var seed = (ulong)(_time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks / 10;
        // The clear counter is read with every entry: its wire key is encoded once.
        var wire = version.Kind == VersionKey.ClearKind ? _clearWireKey ??= VersionWireKey(version) : VersionWireKey(version);
        return new MetaRequest(MetaVerb.Arithmetic, wire, flags, VivifyTtl: 0, Initial: seed, Delta: 0);
    }

    private static ulong ParseCounter(MetaResponse response)
    {
        if (response.Status == MetaStatus.Value && Utf8Parser.TryParse(response.Value, out ulong value, out var used) && used == response.Value!.Length)
        {
            return value;
        }

        throw new ProtocolDesyncException($"an answer {response} to ma where a counter value was expected");
    }

    private static MetaRequest ReadRequest(byte[] wireKey, LeaseOptions lease, bool quiet)
    {
        var flags = MetaRequestFlags.ReturnValue | MetaRequestFlags.ReturnCas | MetaRequestFlags.ReturnTtl
            | (lease.LeaseTtl is null ? 0 : MetaRequestFlags.Vivify)
            | (lease.RecacheBelow is null ? 0 : MetaRequestFlags.Recache)
            | (quiet ? MetaRequestFlags.Quiet : 0);
        return new MetaRequest(MetaVerb.Get, wireKey, flags,
            VivifyTtl: Seconds(lease.LeaseTtl, MaxRelativeTtlSeconds), RecacheTtl: Seconds(lease.RecacheBelow, int.MaxValue));
    }

    /// <summary>
    /// A TTL token in whole seconds, at most <paramref name="max"/>: 30 days for a TTL (above it Memcached reads an absolute
    /// time), but a recache threshold is only compared with the remaining TTL, so it may go higher (an item kept for
    /// fail-safe past 30 days must still be refreshable).
    /// </summary>
    private static int Seconds(TimeSpan? span, long max) => span is { } s ? (int)Math.Clamp(Math.Ceiling(s.TotalSeconds), 1, max) : 0;

    private static LeaseRead ToLeaseRead(MetaResponse response, byte[] keyUtf8)
    {
        if (response.Status == MetaStatus.Miss)
        {
            return new LeaseRead(ReadOutcome.Miss, null, false, 0, null, FrameRejection.None);
        }

        if (response.Status != MetaStatus.Value)
        {
            throw new ProtocolDesyncException($"an answer {response} to mg");
        }

        ReadOnlyMemory<byte>? payload = null;
        var rejection = FrameRejection.None;
        if (response.Value is { Length: > 0 } value)
        {
            rejection = ItemFraming.TryRead(value, keyUtf8, out var framed);
            payload = rejection == FrameRejection.None ? framed : (ReadOnlyMemory<byte>?)null;
        }

        var outcome = response.Win ? ReadOutcome.Won
            : response.AlreadyWon ? ReadOutcome.HeldByOther
            : payload is null ? ReadOutcome.Miss
            : ReadOutcome.Hit;
        return new LeaseRead(outcome, payload, response.Stale, response.Cas ?? 0, response.Ttl, rejection);
    }
}
