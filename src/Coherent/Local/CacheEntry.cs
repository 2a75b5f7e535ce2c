using System.Runtime.CompilerServices;
using Coherent.Invalidation;
using Coherent.Policies;
using Coherent.Telemetry;

namespace Coherent.Local;

/// <summary>
/// One L1 entry: the value object itself (never copied on a hit) and the metadata the freshness rules need.
/// Immutable once published, except for the few counters and flags marked as such.
/// </summary>
/// <remarks>
/// Field order matters: the runtime lays out references first, then 8-byte fields, each group in declaration order.
/// What an L1 hit reads (<see cref="Value"/>, <see cref="ValueTypeHandle"/>, <see cref="Tags"/>, <see cref="MapNext"/>,
/// <see cref="HitSlots"/>, <see cref="Key"/>, <see cref="HotUntilMs"/>, <see cref="ClearStamp"/>, <see cref="SampleMark"/>,
/// <see cref="MapHash"/>) is declared first so that it spans two cache lines, not four (the entry is its own map node):
/// with 1,000 resident keys the entries do not fit in the core's L1 data cache, and each extra line cost ~2 ns a hit.
/// </remarks>
internal sealed class CacheEntry
{
    public CacheEntry(string key, object? value, FamilyState family)
    {
        Key = key;
        Value = value;
        Family = family;
        IsSerialized = value is SerializedValue;
        HitSlots = family.Stats.Hits.Slots;
        ValueTypeHandle = value is null ? 0 : RuntimeTypeHandle.ToIntPtr(value.GetType().TypeHandle);
    }

    /// <summary>The cached value (a field, not a property: the hit path reinterprets it in place as the caller's T).</summary>
    public readonly object? Value;

    /// <summary>
    /// <see cref="Value"/>'s runtime type handle (0 for null), read once here: the hit path compares it with the caller's
    /// T instead of reading the value object's header, a cache line of another object (~2 ns a hit with 1,000 keys). A
    /// handle, not a <see cref="Type"/>: typeof(T) in code shared by reference types is a helper call, its handle is not.
    /// The value keeps its type (and so the handle) alive.
    /// </summary>
    public nint ValueTypeHandle { get; }
    public TagState[]? Tags { get; init; }

    /// <summary>The next entry in this entry's <see cref="EntryMap"/> bucket (the entry is its own map node). Map-owned.</summary>
    public CacheEntry? MapNext;

    /// <summary>The family's hit counter's stripes, held here so a hit does not walk entry → family → stats → counter → stripes.</summary>
    public long[] HitSlots { get; }

    /// <summary>
    /// min(<see cref="ExpiresAtMs"/>, <see cref="EarlyRefreshFromMs"/>): before it, a hit needs neither the expiry nor the
    /// early-refresh check (one comparison instead of two fields on two lines).
    /// </summary>
    public long HotUntilMs => _hotUntilMs;

    public long ClearStamp { get; init; }

    /// <summary>The LFU recording state of this entry, owned by <see cref="L1Store"/>. Mutable, racy by design.</summary>
    public long SampleMark;

    /// <summary>
    /// The key's (int) hash in the <see cref="EntryMap"/> holding this entry. Map-owned. A long so that the runtime places it
    /// among the 8-byte fields a hit reads anyway (ints go after them, on another cache line).
    /// </summary>
    public long MapHash;

    private readonly long _hotUntilMs;
    private readonly long _expiresAtMs;
    private readonly long _earlyRefreshFromMs = long.MaxValue;

    public string Key { get; }
    public FamilyState Family { get; }
    public long[]? TagStamps { get; init; }

    /// <summary>True for copy-on-read entries (the value is a <see cref="SerializedValue"/>): these take the slow path.</summary>
    public bool IsSerialized { get; }

    /// <summary>Logical expiry (TTL with jitter).</summary>
    public long ExpiresAtMs
    {
        get => _expiresAtMs;
        init
        {
            _expiresAtMs = value;
            _hotUntilMs = Math.Min(value, _earlyRefreshFromMs);
        }
    }

    /// <summary>From when the XFetch coin is tossed on hits (long.MaxValue when early refresh is off).</summary>
    public long EarlyRefreshFromMs
    {
        get => _earlyRefreshFromMs;
        init
        {
            _earlyRefreshFromMs = value;
            _hotUntilMs = Math.Min(_expiresAtMs, value);
        }
    }

    /// <summary>When the value was computed (from the source), ms since epoch: served age and fail-safe age count from here.</summary>
    public long CreatedAtMs { get; init; }

    /// <summary>When this node obtained the value (factory or L2): invalidations seen by the bus before then are already reflected.</summary>
    public long FetchedAtMs { get; init; }

    /// <summary>After this, not even fail-safe may serve the value; the L1 sweep drops it.</summary>
    public long RetainUntilMs { get; init; }

    /// <summary>How long the factory took (XFetch's delta).</summary>
    public double DeltaMs { get; init; }

    /// <summary>The shared tier's epoch of the key when this value was stored (0 without a shared tier).</summary>
    public long Epoch { get; init; }

    public long Weight { get; set; }

    /// <summary>Fail-safe throttle: until then, the stale value is served without calling the factory. Mutable.</summary>
    public long ThrottleUntilMs;

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
