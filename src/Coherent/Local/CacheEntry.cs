using System.Runtime.CompilerServices;
using Coherent.Invalidation;
using Coherent.Policies;

namespace Coherent.Local;

/// <summary>
/// One L1 entry: the value object itself (never copied on a hit) and the metadata the freshness rules need.
/// Immutable once published, except for the few counters and flags marked as such.
/// </summary>
internal sealed class CacheEntry
{
    public CacheEntry(string key, object? value, FamilyState family)
    {
        Key = key;
        Value = value;
        Family = family;
        IsSerialized = value is SerializedValue;
    }

    /// <summary>True for copy-on-read entries (the value is a <see cref="SerializedValue"/>): these take the slow path.</summary>
    public bool IsSerialized { get; }

    public string Key { get; }
    public object? Value { get; }
    public FamilyState Family { get; }

    /// <summary>When the value was computed (from the source), ms since epoch: served age and fail-safe age count from here.</summary>
    public long CreatedAtMs { get; init; }

    /// <summary>When this node obtained the value (factory or L2): invalidations seen by the bus before then are already reflected.</summary>
    public long FetchedAtMs { get; init; }

    /// <summary>Logical expiry (TTL with jitter).</summary>
    public long ExpiresAtMs { get; init; }

    /// <summary>From when the XFetch coin is tossed on hits (long.MaxValue when early refresh is off).</summary>
    public long EarlyRefreshFromMs { get; init; } = long.MaxValue;

    /// <summary>After this, not even fail-safe may serve the value; the L1 sweep drops it.</summary>
    public long RetainUntilMs { get; init; }

    /// <summary>How long the factory took (XFetch's delta).</summary>
    public double DeltaMs { get; init; }

    /// <summary>The shared tier's epoch of the key when this value was stored (0 without a shared tier).</summary>
    public long Epoch { get; init; }

    public long ClearStamp { get; init; }
    public TagState[]? Tags { get; init; }
    public long[]? TagStamps { get; init; }
    public long Weight { get; set; }

    /// <summary>Fail-safe throttle: until then, the stale value is served without calling the factory. Mutable.</summary>
    public long ThrottleUntilMs;

    /// <summary>Hits counted up to 16 to decide when to sample accesses into the LFU policy. Mutable, racy by design.</summary>
    public int SampledHits;

    /// <summary>1 while an early refresh for this entry runs. Mutable.</summary>
    public int Refreshing;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TagsCurrent()
    {
        var tags = Tags;
        if (tags is null)
        {
            return true;
        }

        var stamps = TagStamps!;
        for (var i = 0; i < tags.Length; i++)
        {
            if (Volatile.Read(ref tags[i].Version) != stamps[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when the value was not invalidated (clear or tag) since it was stored; says nothing about expiry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsValid(long clearVersion) => ClearStamp == clearVersion && TagsCurrent();

    public long AgeMs(long now) => Math.Max(0, now - CreatedAtMs);
}
