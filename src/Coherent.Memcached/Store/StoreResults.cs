namespace Coherent.Memcached.Store;

/// <summary>What a read found, and whether this caller holds the key's lease.</summary>
internal enum ReadOutcome
{
    /// <summary>A value is stored and nobody is asked to recompute it.</summary>
    Hit,

    /// <summary>
    /// Nothing usable and no lease: nothing stored and none asked for (<c>EN</c>), or a value refused for its
    /// <see cref="LeaseRead.Rejection"/> (its <see cref="LeaseRead.Cas"/> lets a fill replace it).
    /// </summary>
    Miss,

    /// <summary>This caller won the lease (<c>W</c>): it should compute and store with <see cref="LeaseRead.Cas"/>. A stale value may come with it.</summary>
    Won,

    /// <summary>Another caller holds the lease (<c>Z</c>): wait for its fill, or serve <see cref="LeaseRead.Payload"/> when stale values are allowed.</summary>
    HeldByOther,
}

/// <summary>
/// The answer of <see cref="MemcachedStore.ReadAsync"/>. <see cref="Payload"/> is the stored payload (without the framing),
/// null when there is none (miss, lease placeholder, or a value refused for <see cref="Rejection"/>). <see cref="IsStale"/>:
/// the item is marked stale (<c>X</c>); the tier marks only a value kept past its expiry for fail-safe (a key's
/// invalidation deletes the item), so such a value is fit for a fail-safe answer once judged, never for a hit. <see cref="Cas"/> is the fencing token for
/// <see cref="MemcachedStore.StoreAsync"/>; 0 on a miss without lease.
/// </summary>
internal readonly record struct LeaseRead(
    ReadOutcome Outcome, ReadOnlyMemory<byte>? Payload, bool IsStale, ulong Cas, long? RemainingTtlSeconds, FrameRejection Rejection);

/// <summary>Result of a (fenced) store.</summary>
internal enum StoreOutcome
{
    /// <summary>Stored (<c>HD</c>).</summary>
    Stored,

    /// <summary>The key changed since the read that gave the CAS (<c>EX</c>): an invalidation or another fill won. Nothing stored.</summary>
    Conflict,

    /// <summary>The key was deleted (or expired, or evicted) since the read that gave the CAS (<c>NF</c>). Nothing stored.</summary>
    Missing,

    /// <summary>Not stored for another reason (<c>NS</c>, e.g. an add on an existing key).</summary>
    NotStored,
}

/// <summary>A version counter's name: one per tag, and the single clear counter.</summary>
internal readonly record struct VersionKey(byte Kind, string Name)
{
    public const byte TagKind = (byte)'t';
    public const byte ClearKind = (byte)'c';

    public static VersionKey Clear { get; } = new(ClearKind, "");

    public static VersionKey Tag(string tag) => new(TagKind, tag);
}

/// <summary>An entry read together with version counters (in the order asked), in one round trip per server.</summary>
internal readonly record struct ReadWithVersions(LeaseRead Entry, ulong[] Versions);

/// <summary>What a read asks for besides the value: a lease on a miss (<c>N</c>) and early recache (<c>R</c>).</summary>
/// <param name="LeaseTtl">When set, a miss creates a placeholder with this TTL and gives its lease to the first caller (<c>W</c>).</param>
/// <param name="RecacheBelow">When set, a hit whose remaining TTL is below this gives the caller the lease to refresh it early.</param>
internal readonly record struct LeaseOptions(TimeSpan? LeaseTtl = null, TimeSpan? RecacheBelow = null)
{
    public static LeaseOptions None => default;
}
