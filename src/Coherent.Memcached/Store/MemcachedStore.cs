using Coherent.Memcached.Cluster;
using Coherent.Memcached.Connections;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Store;

/// <summary>
/// The storage operations the Memcached tier is built on, over the cluster: lease reads, fenced stores, invalidation,
/// deletes, version counters (tags, clear) and the entry-with-versions read. Keys are the cache's keys (text); payloads are
/// opaque bytes (the tier's envelope), framed with the full key (<see cref="ItemFraming"/>). Failures surface as
/// <see cref="MemcachedException"/>s, which the tier turns into Coherent's own exceptions or misses.
/// </summary>
internal sealed partial class MemcachedStore : IAsyncDisposable
{
    /// <summary>Memcached's item_size_max default, used when no server reports one and none is configured.</summary>
    public const long DefaultMaxItemBytes = 1024 * 1024;

    /// <summary>Room left for Memcached's own item header (about 50 bytes plus the key) inside item_size_max.</summary>
    private const int ItemOverheadBytes = 64;

    /// <summary>TTLs above 30 days are absolute Unix times to Memcached, so longer ones are sent as such.</summary>
    private const long MaxRelativeTtlSeconds = 30L * 24 * 3600;

    private const byte DataKind = (byte)'d';

    private readonly MemcachedKey _keys;
    private readonly TimeProvider _time;

    private MemcachedStore(MemcachedCluster cluster, string prefix, long maxItemBytes, TimeProvider time)
    {
        Cluster = cluster;
        _keys = new MemcachedKey(prefix);
        MaxItemBytes = maxItemBytes;
        _time = time;
    }

    public MemcachedCluster Cluster { get; }

    /// <summary>The item size limit in force (configured, else read from the servers, else 1 MB).</summary>
    public long MaxItemBytes { get; }

    /// <summary>
    /// Builds the client from validated options (throws <see cref="CoherentConfigurationException"/> listing every problem)
    /// and, unless <see cref="CoherentMemcachedOptions.MaxItemBytes"/> is set, reads the servers' item_size_max.
    /// </summary>
    public static async Task<MemcachedStore> CreateAsync(CoherentMemcachedOptions options, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        options.ValidateOrThrow();
        time ??= TimeProvider.System;
        var configured = options.MaxItemBytes;
        var settings = new ClientSettings(
            options.OperationTimeout, options.ConnectTimeout, options.PoolSize, options.BreakerFailureThreshold, options.ProbeInterval,
            // A value larger than the item limit cannot come from a server honouring it: refusing it guards the client's memory.
            MaxValueBytes: Math.Max(configured ?? 0, 1024L * 1024 * 1024),
            time,
            options.MaxKeysPerBatch);
        var cluster = new MemcachedCluster(CoherentMemcachedOptions.ParseServers(options.Servers, []), settings, options.FlushOnReadmit);
        var maxItem = configured ?? await cluster.ReadItemSizeMaxAsync(cancellationToken).ConfigureAwait(false) ?? DefaultMaxItemBytes;
        return new MemcachedStore(cluster, options.KeyPrefix, maxItem, time);
    }

    /// <summary>The wire key of a cache key's data item (also where the cluster routes it).</summary>
    public byte[] DataKey(string key) => _keys.Encode(DataKind, MemcachedKey.Utf8(key));

    /// <summary>The wire key of a data item from the key's UTF-8 bytes (<see cref="MemcachedKey.Utf8"/>).</summary>
    public byte[] DataKey(byte[] keyUtf8) => _keys.Encode(DataKind, keyUtf8);

    /// <summary>The wire key of a version counter.</summary>
    public byte[] VersionWireKey(VersionKey version) => _keys.Encode(version.Kind, MemcachedKey.Utf8(version.Name));

    /// <summary>
    /// Throws <see cref="PayloadTooLargeException"/> when a payload for <paramref name="key"/> would make an item over the size
    /// limit; <see cref="StoreAsync"/> calls it before sending anything, and the tier may call it earlier.
    /// </summary>
    public void CheckSize(string key, int payloadLength) => CheckSize(key, System.Text.Encoding.UTF8.GetByteCount(key), payloadLength);

    private void CheckSize(string key, int keyUtf8Length, int payloadLength)
    {
        var item = (long)ItemFraming.FramedLength(keyUtf8Length, payloadLength) + ItemOverheadBytes + MemcachedKey.MaxWireLength;
        if (item > MaxItemBytes)
        {
            var limit = Math.Max(0, MaxItemBytes - ItemOverheadBytes - MemcachedKey.MaxWireLength - ItemFraming.HeaderSize - keyUtf8Length);
            throw new PayloadTooLargeException(key, payloadLength, limit);
        }
    }

    /// <summary>
    /// Reads a key: <c>mg v c t</c>, with <c>N</c> (lease on a miss) and <c>R</c> (early recache) as <paramref name="lease"/>
    /// asks. See <see cref="ReadOutcome"/> for the outcomes.
    /// </summary>
    public async ValueTask<LeaseRead> ReadAsync(string key, LeaseOptions lease, CancellationToken cancellationToken = default)
    {
        var keyUtf8 = MemcachedKey.Utf8(key);
        var response = await Cluster.SendAsync(LeaseReadRequest(_keys.Encode(DataKind, keyUtf8), lease), cancellationToken).ConfigureAwait(false);
        return LeaseReadOf(response, keyUtf8);
    }

    /// <summary>
    /// Stores a payload for <paramref name="ttl"/>. With <paramref name="cas"/> (from the read that missed or won the lease)
    /// the store is fenced: it fails with <see cref="StoreOutcome.Conflict"/> or <see cref="StoreOutcome.Missing"/> when the
    /// key was invalidated, deleted or refilled since. Oversized payloads throw <see cref="PayloadTooLargeException"/> before
    /// anything is sent.
    /// </summary>
    public async ValueTask<StoreOutcome> StoreAsync(string key, ReadOnlyMemory<byte> payload, TimeSpan ttl, ulong? cas = null, CancellationToken cancellationToken = default)
    {
        var request = StoreRequest(key, payload, ttl, cas);
        return StoreOutcomeOf(await Cluster.SendAsync(request, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// The request of <see cref="StoreAsync"/> (<c>ms … T [C&lt;cas&gt;]</c>), for it and for a batch of fills alike; throws
    /// <see cref="PayloadTooLargeException"/> for an oversized payload, so nothing is sent.
    /// </summary>
    public MetaRequest StoreRequest(string key, ReadOnlyMemory<byte> payload, TimeSpan ttl, ulong? cas)
    {
        var keyUtf8 = MemcachedKey.Utf8(key);
        CheckSize(key, keyUtf8.Length, payload.Length);
        var flags = MetaRequestFlags.SetTtl | (cas is null ? 0 : MetaRequestFlags.CompareCas);
        return new MetaRequest(MetaVerb.Set, _keys.Encode(DataKind, keyUtf8), flags, ItemFraming.Frame(keyUtf8, payload.Span), Cas: cas ?? 0, Ttl: TtlToken(ttl));
    }

    /// <summary>What the answer to a <see cref="StoreRequest"/> means: stored, or why not (a fence that failed).</summary>
    public static StoreOutcome StoreOutcomeOf(MetaResponse response) => response.Status switch
    {
        MetaStatus.Header => StoreOutcome.Stored,
        MetaStatus.Exists => StoreOutcome.Conflict,
        MetaStatus.NotFound => StoreOutcome.Missing,
        MetaStatus.NotStored => StoreOutcome.NotStored,
        _ => throw new ProtocolDesyncException($"an answer {response} to ms"),
    };

    /// <summary>
    /// Invalidates a key (<c>md … I</c>): the value stays, marked stale, its CAS moves (so every fill started before fails),
    /// and the next <see cref="ReadAsync"/> with a lease wins it with the stale value (<c>X W</c>), the others see <c>X Z</c>.
    /// <paramref name="staleTtl"/> bounds how long the stale value is kept. Returns false when the key was not stored.
    /// </summary>
    public async ValueTask<bool> InvalidateAsync(string key, TimeSpan? staleTtl = null, CancellationToken cancellationToken = default)
    {
        var flags = MetaRequestFlags.Invalidate | (staleTtl is null ? 0 : MetaRequestFlags.SetTtl);
        var request = new MetaRequest(MetaVerb.Delete, DataKey(key), flags, Ttl: staleTtl is { } t ? TtlToken(t) : 0);
        return IsFound(await Cluster.SendAsync(request, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Deletes a key (<c>md</c>); a fill started before fails (<see cref="StoreOutcome.Missing"/>). Returns false when it was not stored.</summary>
    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var request = new MetaRequest(MetaVerb.Delete, DataKey(key), MetaRequestFlags.None);
        return IsFound(await Cluster.SendAsync(request, cancellationToken).ConfigureAwait(false));
    }

    private static bool IsFound(MetaResponse response) => response.Status switch
    {
        MetaStatus.Header => true,
        MetaStatus.NotFound => false,
        _ => throw new ProtocolDesyncException($"an answer {response} to md"),
    };

    private int TtlToken(TimeSpan ttl)
    {
        // Memcached counts whole seconds: round up so an entry never expires before its TTL.
        var seconds = Math.Max(1L, (long)Math.Ceiling(ttl.TotalSeconds));
        return seconds <= MaxRelativeTtlSeconds ? (int)seconds : (int)Math.Min(int.MaxValue, _time.GetUtcNow().ToUnixTimeSeconds() + seconds);
    }

    public ValueTask DisposeAsync() => Cluster.DisposeAsync();
}
