namespace Coherent.SharedTier;

/// <summary>A key as the shared tier sees it: the cache key and its family's name, resolved once by the engine's family registry.</summary>
/// <param name="Key">The cache key.</param>
/// <param name="Family">
/// The family the engine resolved for the key: a declared family's name, or for a key of no declared family the name its
/// statistics are kept under (never one of the declared names). A backend that treats families differently (versioned
/// keys) must key that on declared names only, which every node resolves alike.
/// </param>
public readonly record struct SharedTierKey(string Key, string Family);

/// <summary>A value as stored in the shared tier. Times are Unix milliseconds on the engine's clock (<see cref="ISharedTierHost.NowMs"/>).</summary>
public sealed class SharedTierEntry
{
    /// <summary>The serialized value.</summary>
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>When the value was fetched: the factory's start, or the read that brought it.</summary>
    public long CreatedAtMs { get; init; }

    /// <summary>When the value stops being fresh.</summary>
    public long ExpiresAtMs { get; init; }

    /// <summary>
    /// Until when the backend keeps the entry after <see cref="ExpiresAtMs"/>, for fail-safe (the family's FailSafeMaxAge
    /// from <see cref="CreatedAtMs"/>): read back expired but not invalidated before then, it comes as the
    /// <see cref="SharedTierRead.Stale"/> value of a miss, which the engine serves only when the factory fails. 0 (the
    /// default) or any instant not after the expiry: not kept past it.
    /// </summary>
    public long RetainUntilMs { get; init; }

    /// <summary>When the backend may drop the entry: its expiry, or <see cref="RetainUntilMs"/> when that is later.</summary>
    public long KeepUntilMs => Math.Max(ExpiresAtMs, RetainUntilMs);

    /// <summary>How long the factory took (early refresh weighs it).</summary>
    public double DeltaMs { get; init; }

    /// <summary>The key's epoch the value was stored under (set by the backend on a read).</summary>
    public long Epoch { get; init; }

    /// <summary>The entry's tags, or null.</summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>The versions captured before the value was computed (fills); null stamps the versions known at store time (writes).</summary>
    public SharedTierVersions? Versions { get; init; }

    /// <summary>
    /// A small string the factory stored beside the value (an ETag), or null; at most 4,096 UTF-8 bytes. A backend stores it
    /// with the value (<see cref="SharedTierEnvelopeData.Metadata"/>) and returns it on reads.
    /// </summary>
    public string? Metadata { get; init; }
}

/// <summary>A shared tier's clear version and tag versions at one instant (opaque to the engine).</summary>
/// <param name="ClearVersion">The clear version.</param>
/// <param name="Tags">The versions of the tags asked for, or null.</param>
public sealed record SharedTierVersions(long ClearVersion, IReadOnlyList<(string Tag, long Version)>? Tags)
{
    /// <summary>
    /// The version this snapshot holds for <paramref name="tag"/>; 0 when it holds none — older than any bump, so an entry
    /// stamped with it can only be judged stale, never current.
    /// </summary>
    public long VersionOf(string tag)
    {
        if (Tags is { } known)
        {
            foreach (var (name, version) in known)
            {
                if (string.Equals(name, tag, StringComparison.Ordinal))
                {
                    return version;
                }
            }
        }

        return 0;
    }

    /// <summary>Each of <paramref name="tags"/> with its version in this snapshot (<see cref="VersionOf"/>), as an entry is stamped; null without tags.</summary>
    public (string Tag, long Version)[]? Stamp(IReadOnlyList<string>? tags)
    {
        if (tags is not { Count: > 0 })
        {
            return null;
        }

        var stamped = new (string, long)[tags.Count];
        for (var i = 0; i < tags.Count; i++)
        {
            stamped[i] = (tags[i], VersionOf(tags[i]));
        }

        return stamped;
    }
}

/// <summary>A held lease: the key and the token that proves ownership, and the key's epoch when it was taken.</summary>
/// <param name="Key">The cache key.</param>
/// <param name="Token">The backend's proof of ownership.</param>
/// <param name="Epoch">The key's epoch when the lease was taken: the fill is fenced with it.</param>
public sealed record SharedTierLease(string Key, string Token, long Epoch);

/// <summary>How a shared-tier read ended. The default is <see cref="Unavailable"/>: a read nobody filled in never leads to a store.</summary>
public enum SharedTierReadStatus
{
    /// <summary>The backend could not be asked (circuit open, timeout): compute locally, do not store.</summary>
    Unavailable,

    /// <summary>No current entry: absent, expired, invalidated by a tag or clear, or unreadable.</summary>
    Miss,

    /// <summary>The entry was found and is current.</summary>
    Hit,
}

/// <summary>
/// A shared-tier read: a hit with its entry, a miss with (usually) the key's current epoch, or unavailable. A backend
/// logs its state changes once, not each unavailable read.
/// </summary>
public readonly struct SharedTierRead
{
    private readonly long _epoch;

    private SharedTierRead(SharedTierReadStatus status, SharedTierEntry? entry, long epoch, bool hasEpoch, SharedTierEntry? stale = null)
    {
        Status = status;
        Entry = entry;
        _epoch = epoch;
        HasEpoch = hasEpoch;
        Stale = stale;
    }

    /// <summary>How the read ended.</summary>
    public SharedTierReadStatus Status { get; }

    /// <summary>The entry of a hit; null otherwise.</summary>
    public SharedTierEntry? Entry { get; }

    /// <summary>
    /// On a miss, an expired entry the backend kept for fail-safe (<see cref="SharedTierEntry.RetainUntilMs"/>), judged
    /// not invalidated (<see cref="SharedTierJudge"/> said <see cref="SharedTierVerdict.Expired"/>); null otherwise.
    /// </summary>
    public SharedTierEntry? Stale { get; }

    /// <summary>Whether <see cref="Epoch"/> is known: always for a hit, for a miss unless it came from a lookup that skipped it.</summary>
    public bool HasEpoch { get; }

    /// <summary>The key's current epoch, which fences a recompute. Throws when <see cref="HasEpoch"/> is false.</summary>
    public long Epoch => HasEpoch ? _epoch : throw new InvalidOperationException($"This {Status} read carries no epoch.");

    /// <summary>Whether the read found a current entry.</summary>
    public bool Found => Status == SharedTierReadStatus.Hit;

    /// <summary>A hit, with the epoch the entry was stored under.</summary>
    public static SharedTierRead Hit(SharedTierEntry entry) =>
        new(SharedTierReadStatus.Hit, entry ?? throw new ArgumentNullException(nameof(entry)), entry.Epoch, hasEpoch: true);

    /// <summary>A miss, with the key's current epoch.</summary>
    public static SharedTierRead Miss(long epoch) => new(SharedTierReadStatus.Miss, null, epoch, hasEpoch: true);

    /// <summary>A miss, with the key's current epoch and the expired, not invalidated entry kept for fail-safe (or null).</summary>
    public static SharedTierRead Miss(long epoch, SharedTierEntry? stale) => new(SharedTierReadStatus.Miss, null, epoch, hasEpoch: true, stale);

    /// <summary>A miss whose epoch was not read (a lookup, or a read before a lease that carries it).</summary>
    public static SharedTierRead MissWithoutEpoch => new(SharedTierReadStatus.Miss, null, 0, hasEpoch: false);

    /// <summary>
    /// A miss whose epoch was not read (<see cref="ISharedTier.ReadForLeaseAsync"/>), with the expired, not invalidated entry
    /// kept for fail-safe (or null).
    /// </summary>
    public static SharedTierRead MissWithoutEpochKeeping(SharedTierEntry? stale) => new(SharedTierReadStatus.Miss, null, 0, hasEpoch: false, stale);

    /// <summary>The backend could not be asked.</summary>
    public static SharedTierRead Unavailable => new(SharedTierReadStatus.Unavailable, null, 0, hasEpoch: false);
}
