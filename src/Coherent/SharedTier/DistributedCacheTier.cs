using System.Buffers.Binary;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;

namespace Coherent.SharedTier;

/// <summary>
/// A storage-only shared tier on any <see cref="IDistributedCache"/> (SQL Server, Cosmos DB, Redis through Microsoft's
/// client, ...), the L2 HybridCache uses. Such a cache has no compare-and-set, no pub/sub and no lock, so this tier
/// guarantees <see cref="SharedTierGuarantees.None"/>: a fill is stored without a fence (a value computed before an
/// invalidation may be stored after it and stay until its Ttl), no invalidation reaches another node's L1 (so the engine
/// keeps L1 copies at most MaxStaleness), and every node computes its own misses. Tags and clear work: their versions are
/// entries of their own, read with each entry, so an invalidated entry is a miss on every node's next L2 read.
/// </summary>
internal sealed class DistributedCacheTier : ISharedTier
{
    private const string VersionPrefix = "__v:";

    private readonly IDistributedCache _cache;
    private readonly string _prefix;
    private readonly long _maxPayloadBytes;
    private readonly ILogger _logger;
    private readonly TimeSpan _versionRetention;
    private ISharedTierHost? _host;
    private int _failing;

    public DistributedCacheTier(IDistributedCache cache, string prefix, SharedTierContext context)
    {
        _cache = cache;
        _prefix = prefix;
        _maxPayloadBytes = context.MaxPayloadBytes;
        _logger = context.LoggerFactory.CreateLogger("Coherent.DistributedCache");
        // A tag or clear version must outlive every entry stamped before it, or that entry would look current again.
        _versionRetention = context.Families.Max(f => f.Ttl) + TimeSpan.FromMinutes(1);
    }

    public SharedTierGuarantees Guarantees => SharedTierGuarantees.None;

    public SharedTierState State => Volatile.Read(ref _failing) == 1 ? SharedTierState.Unavailable : SharedTierState.Healthy;

    public long PendingInvalidations => 0;

    private ISharedTierHost Host => _host ?? throw new InvalidOperationException("The tier is not started.");

    public void Start(ISharedTierHost host)
    {
        _host = host;
        foreach (var family in host.Families.Where(f => f.Ttl > f.MaxStaleness))
        {
            DistributedCacheLog.StaleSetBound(_logger, family.Name, family.MaxStaleness, family.Ttl);
        }
    }

    public ValueTask<SharedTierRead> ReadAsync(SharedTierKey key, CancellationToken cancellationToken) => ReadCoreAsync(key.Key, cancellationToken);

    public ValueTask<SharedTierRead> LookupAsync(SharedTierKey key, CancellationToken cancellationToken) => ReadCoreAsync(key.Key, cancellationToken);

    private async ValueTask<SharedTierRead> ReadCoreAsync(string key, CancellationToken cancellationToken)
    {
        byte[]? bytes;
        long clear;
        try
        {
            // The clear version in the same breath: a cleared cache must not serve what it held before.
            var entry = _cache.GetAsync(_prefix + key, cancellationToken);
            var clearVersion = ReadVersionAsync(ClearKey, cancellationToken);
            bytes = await entry.ConfigureAwait(false);
            clear = await clearVersion.ConfigureAwait(false);
            Succeeded();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Failed(ex);
            return SharedTierRead.Unavailable;
        }

        if (bytes is null)
        {
            return SharedTierRead.Miss(0);
        }

        var rejection = SharedTierEnvelope.TryRead(key, bytes, null, _maxPayloadBytes, out var data);
        if (rejection != SharedTierEnvelopeRejection.None)
        {
            DistributedCacheLog.EntryRejected(_logger, key, rejection);
            return SharedTierRead.Miss(0);
        }

        // Judged once with the versions known (the clear), then once more with the entry's tags read from storage.
        var nowMs = Host.NowMs();
        var verdict = SharedTierJudge.Judge(data.ExpiresAtMs, data.ClearVersion, data.Tags, nowMs, clear, tagVersion: null);
        if (verdict == SharedTierVerdict.TagVersionUnknown)
        {
            var current = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var (tag, _) in data.Tags!)
            {
                try
                {
                    current[tag] = await ReadVersionAsync(TagKey(tag), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    Failed(ex);
                    return SharedTierRead.Unavailable;
                }
            }

            verdict = SharedTierJudge.Judge(data.ExpiresAtMs, data.ClearVersion, data.Tags, nowMs, clear, current.TryGetValue);
        }

        var read = new SharedTierEntry
        {
            Payload = data.Payload,
            CreatedAtMs = data.CreatedAtMs,
            ExpiresAtMs = data.ExpiresAtMs,
            DeltaMs = data.DeltaMs,
            Tags = SharedTierEnvelopeData.TagNames(data.Tags),
            Metadata = data.Metadata,
        };
        return verdict switch
        {
            SharedTierVerdict.Current => SharedTierRead.Hit(read),
            SharedTierVerdict.Expired => SharedTierRead.Miss(0, read), // kept past its expiry for fail-safe
            _ => SharedTierRead.Miss(0),
        };
    }

    /// <summary>No compare-and-set: the fill is stored (the epoch is not checked; see the class remarks).</summary>
    public async ValueTask<bool> StoreIfEpochAsync(SharedTierKey key, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease, CancellationToken cancellationToken)
    {
        await WriteEntryAsync(key.Key, entry, cancellationToken).ConfigureAwait(false);
        return true;
    }

    public async ValueTask<SharedTierVersions> CaptureVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken)
    {
        var clear = await ReadVersionAsync(ClearKey, cancellationToken).ConfigureAwait(false);
        if (tags is not { Count: > 0 })
        {
            return new SharedTierVersions(clear, null);
        }

        var versions = new (string, long)[tags.Count];
        for (var i = 0; i < tags.Count; i++)
        {
            versions[i] = (tags[i], await ReadVersionAsync(TagKey(tags[i]), cancellationToken).ConfigureAwait(false));
        }

        return new SharedTierVersions(clear, versions);
    }

    public async ValueTask<long> SetAsync(SharedTierKey key, SharedTierEntry entry, CancellationToken cancellationToken)
    {
        await WriteEntryAsync(key.Key, entry, cancellationToken).ConfigureAwait(false);
        return 0;
    }

    public async ValueTask InvalidateAsync(SharedTierKey key, CancellationToken cancellationToken)
    {
        try
        {
            await _cache.RemoveAsync(_prefix + key.Key, cancellationToken).ConfigureAwait(false);
            Succeeded();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Failed(ex);
            throw new InvalidationFailedException($"Key '{key.Key}' was not removed from the distributed cache (no retry on this backend): {ex.Message}", ex);
        }
    }

    public ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken) => BumpAsync(TagKey(tag), "tag " + tag, cancellationToken);

    public ValueTask ClearAsync(CancellationToken cancellationToken) => BumpAsync(ClearKey, "the whole cache", cancellationToken);

    /// <summary>No fleet lease on this backend: every node is its own lease holder.</summary>
    public ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken) =>
        ValueTask.FromResult<SharedTierLease?>(new SharedTierLease(key, "", 0));

    public ValueTask ReleaseLeaseAsync(SharedTierLease lease, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask<bool> WaitForFillAsync(string key, TimeSpan timeout, CancellationToken cancellationToken) => ValueTask.FromResult(false);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the distributed cache belongs to the container

    private string ClearKey => _prefix + VersionPrefix + "*";

    private string TagKey(string tag) => _prefix + VersionPrefix + "t:" + tag;

    private async ValueTask WriteEntryAsync(string key, SharedTierEntry entry, CancellationToken cancellationToken)
    {
        if (entry.Payload.Length > _maxPayloadBytes)
        {
            throw new PayloadTooLargeException(key, entry.Payload.Length, _maxPayloadBytes);
        }

        var versions = entry.Versions ?? await CaptureVersionsAsync(entry.Tags, cancellationToken).ConfigureAwait(false);
        var bytes = SharedTierEnvelope.Write(key, new SharedTierEnvelopeData(entry.CreatedAtMs, entry.ExpiresAtMs, 0, entry.DeltaMs, versions.ClearVersion, versions.Stamp(entry.Tags), entry.Payload) { Metadata = entry.Metadata }, null);
        var ttl = TimeSpan.FromMilliseconds(Math.Max(1, entry.KeepUntilMs - Host.NowMs())); // past expiry while fail-safe may serve it
        await _cache.SetAsync(_prefix + key, bytes, new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = ttl }, cancellationToken).ConfigureAwait(false);
        Succeeded();
    }

    private async ValueTask<long> ReadVersionAsync(string versionKey, CancellationToken cancellationToken)
    {
        var bytes = await _cache.GetAsync(versionKey, cancellationToken).ConfigureAwait(false);
        // Foreign bytes under a version key count as no bump: the entry is judged by the versions that are readable.
        return bytes is { Length: 8 } ? BinaryPrimitives.ReadInt64LittleEndian(bytes) : 0;
    }

    /// <summary>
    /// Moves a version to the later of one past what is stored and this node's time in Unix ms × 1000. Read-then-write, so
    /// two nodes bumping at once may write the same number; the time keeps a later bump above an earlier one's stamps.
    /// </summary>
    private async ValueTask BumpAsync(string versionKey, string target, CancellationToken cancellationToken)
    {
        try
        {
            var next = Math.Max(await ReadVersionAsync(versionKey, cancellationToken).ConfigureAwait(false) + 1, Host.NowMs() * 1000);
            var bytes = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(bytes, next);
            await _cache.SetAsync(versionKey, bytes, new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = _versionRetention }, cancellationToken).ConfigureAwait(false);
            Succeeded();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Failed(ex);
            throw new InvalidationFailedException($"The invalidation of {target} did not reach the distributed cache (no retry on this backend): {ex.Message}", ex);
        }
    }

    private void Succeeded()
    {
        if (Interlocked.Exchange(ref _failing, 0) == 1)
        {
            DistributedCacheLog.Recovered(_logger);
        }
    }

    private void Failed(Exception ex)
    {
        if (Interlocked.Exchange(ref _failing, 1) == 0)
        {
            DistributedCacheLog.Failing(_logger, ex);
        }
    }
}

/// <summary>Builds a <see cref="DistributedCacheTier"/> for a cache (<see cref="CoherentCacheBuilder.WithDistributedCache"/>).</summary>
internal sealed class DistributedCacheTierFactory(IDistributedCache? cache, string? keyPrefix) : ISharedTierFactory
{
    public void Validate(SharedTierContext context, ICollection<string> problems)
    {
        if ((cache ?? context.Services?.GetService(typeof(IDistributedCache))) is null)
        {
            problems.Add("WithDistributedCache() has no cache: pass an IDistributedCache, or register one in the container.");
        }

        if (keyPrefix is { Length: > 128 })
        {
            problems.Add($"WithDistributedCache: the key prefix is {keyPrefix.Length} characters; keep it to 128 or fewer.");
        }
    }

    public ISharedTier Create(SharedTierContext context) =>
        new DistributedCacheTier(cache ?? (IDistributedCache)context.Services!.GetService(typeof(IDistributedCache))!, keyPrefix ?? $"coherent:{context.CacheName}:", context);
}

internal static partial class DistributedCacheLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Family {Family}: the distributed cache cannot fence a stale set, so a value may stay stale in it up to its Ttl ({Ttl}), not only MaxStaleness ({MaxStaleness}); give the family a Ttl no longer than its MaxStaleness, or use a Coherent shared tier (WithRedis).")]
    public static partial void StaleSetBound(ILogger logger, string family, TimeSpan maxStaleness, TimeSpan ttl);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Entry for {Key} in the distributed cache refused ({Reason}); served as a miss.")]
    public static partial void EntryRejected(ILogger logger, string key, SharedTierEnvelopeRejection reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "The distributed cache is failing; reads run from L1 and factories until it answers again.")]
    public static partial void Failing(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "The distributed cache answers again.")]
    public static partial void Recovered(ILogger logger);
}
