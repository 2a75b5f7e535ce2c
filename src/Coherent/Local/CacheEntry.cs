using System.Runtime.CompilerServices;
using Coherent.Invalidation;
using Coherent.Policies;

namespace Coherent.Local;

/// <summary>
/// One L1 entry: the value object itself (never copied on a hit), the metadata the freshness rules need, and the L1's
/// own bookkeeping (it is its map's node and carries its eviction state: there is no second index). Immutable once
/// published, except for the few counters and flags marked as such.
/// </summary>
/// <remarks>
/// Size is a budget: every resident key costs one of these. What every entry needs is a field here; what only some
/// configurations use (tags, early refresh, fail-safe retention, a shared tier's epoch, weights, the fail-safe throttle)
/// lives in a <see cref="CacheEntryExtras"/> allocated only for the entries that use it, and reads as its default when
/// there is none. Field order matters: the runtime lays out references first, then 8-, 4- and 1-byte fields, each group in
/// declaration order; what an L1 hit reads (<see cref="Value"/>, <see cref="MapNext"/>, <see cref="HitSlots"/>,
/// <see cref="Key"/>, <see cref="ValueTypeHandle"/>, <see cref="HotUntilMs"/>, <see cref="MapHash"/>,
/// <see cref="SampleMark"/>, the clear stamp and the tag flag) is declared first in each group, and none of it is in the
/// extras: a hit never loads a second object of the entry.
/// </remarks>
internal sealed class CacheEntry
{
    private const byte HasTagsFlag = 1;
    private const byte SerializedFlag = 2;
    private const byte HitFlag = 4;

    public CacheEntry(string key, object? value, FamilyState family)
    {
        Key = key;
        Value = value;
        Family = family;
        HitSlots = family.Stats.Hits.Slots;
        ValueTypeHandle = value is null ? 0 : RuntimeTypeHandle.ToIntPtr(value.GetType().TypeHandle);
        _flags = value is SerializedValue ? SerializedFlag : (byte)0;
    }

    /// <summary>The cached value (a field, not a property: the hit path reinterprets it in place as the caller's T).</summary>
    public readonly object? Value;

    /// <summary>What only some entries need; null reads as every default (see <see cref="CacheEntryExtras"/>).</summary>
    private CacheEntryExtras? _extras;

    /// <summary>The next entry in this entry's <see cref="EntryMap"/> bucket (the entry is its own map node). Map-owned.</summary>
    public CacheEntry? MapNext;

    /// <summary>The family's hit counter's stripes, held here so a hit does not walk entry → family → stats → counter → stripes.</summary>
    public long[] HitSlots { get; }

    public string Key { get; }

    public FamilyState Family { get; }

    /// <summary>
    /// <see cref="Value"/>'s runtime type handle (0 for null), read once here: the hit path compares it with the caller's
    /// T instead of reading the value object's header, a cache line of another object. A handle, not a <see cref="Type"/>:
    /// typeof(T) in code shared by reference types is a helper call, its handle is not. The value keeps its type alive.
    /// </summary>
    public nint ValueTypeHandle { get; }

    /// <summary>
    /// min(<see cref="ExpiresAtMs"/>, <see cref="EarlyRefreshFromMs"/>): before it, a hit needs neither the expiry nor the
    /// early-refresh check (one comparison instead of two fields).
    /// </summary>
    public long HotUntilMs => _hotUntilMs;

    private long _hotUntilMs;
    private long _expiresAtMs;

    /// <summary>When the value was computed (from the source), ms since epoch: served age and fail-safe age count from here.</summary>
    public long CreatedAtMs { get; init; }

    /// <summary>When this node obtained the value (factory or L2): invalidations seen by the bus before then are already reflected.</summary>
    public long FetchedAtMs { get; init; }

    /// <summary>
    /// The key's (int) hash in the <see cref="EntryMap"/> holding this entry; the frequency sketch counts the key under it
    /// too. Map-owned.
    /// </summary>
    public int MapHash;

    /// <summary>The hit-recording state of this entry (see <see cref="L1Store.RecordHit"/>). Mutable, racy by design.</summary>
    public int SampleMark;

    /// <summary>The store's write count when this entry was stored: how young it is, for eviction. Store-owned.</summary>
    public int WriteStamp;

    /// <summary>
    /// The clear version the value was computed under, truncated to 32 bits: the version is a local counter bumped once a
    /// clear, so two versions that truncate alike are 2^32 clears apart.
    /// </summary>
    private int _clearStamp;

    /// <summary>
    /// XFetch's delta as a float: it scales a random draw, so 24 bits of precision are plenty, and the 4 bytes it saves
    /// keep the entry within its size budget.
    /// </summary>
    private float _deltaMs;

    private byte _flags;

    public long ClearStamp
    {
        get => _clearStamp;
        init => _clearStamp = unchecked((int)value);
    }

    public TagState[]? Tags
    {
        get => _extras?.Tags;
        init
        {
            if (value is not null)
            {
                Extras().Tags = value;
                _flags |= HasTagsFlag;
            }
        }
    }

    public long[]? TagStamps
    {
        get => _extras?.TagStamps;
        init
        {
            if (value is not null)
            {
                Extras().TagStamps = value;
            }
        }
    }

    /// <summary>The metadata a context factory stored beside the value (an ETag), or null; in the extras, as few entries carry any.</summary>
    public string? Metadata
    {
        get => _extras?.Metadata;
        init
        {
            if (value is not null)
            {
                Extras().Metadata = value;
            }
        }
    }

    /// <summary>Whether a hit on this entry was recorded since it was stored (eviction spares such entries first). Store-owned.</summary>
    public bool WasHit => (_flags & HitFlag) != 0;

    /// <summary>Sets <see cref="WasHit"/>. Racy by design: the other flags never change after publication, so a racing write stores the same byte.</summary>
    public void MarkHit()
    {
        if ((_flags & HitFlag) == 0)
        {
            _flags |= HitFlag;
        }
    }

    /// <summary>True for copy-on-read entries (the value is a <see cref="SerializedValue"/>): these take the slow path.</summary>
    public bool IsSerialized => (_flags & SerializedFlag) != 0;

    /// <summary>Logical expiry (TTL with jitter).</summary>
    public long ExpiresAtMs
    {
        get => _expiresAtMs;
        init
        {
            _expiresAtMs = value;
            _hotUntilMs = Math.Min(value, EarlyRefreshFromMs);
        }
    }

    /// <summary>From when the XFetch coin is tossed on hits (long.MaxValue when early refresh is off).</summary>
    public long EarlyRefreshFromMs
    {
        get => _extras?.EarlyRefreshFromMs ?? long.MaxValue;
        init
        {
            if (value != long.MaxValue)
            {
                Extras().EarlyRefreshFromMs = value;
            }

            _hotUntilMs = Math.Min(_expiresAtMs, value);
        }
    }

    /// <summary>
    /// After this, not even fail-safe may serve the value; the L1 sweep drops it. Without fail-safe it is the expiry, and then
    /// it is not stored: initialize <see cref="ExpiresAtMs"/> first (an equal value set before it would follow it).
    /// </summary>
    public long RetainUntilMs
    {
        get => _extras is { RetainUntilMs: var retain } && retain != CacheEntryExtras.SameAsExpiry ? retain : _expiresAtMs;
        init
        {
            if (value != _expiresAtMs || _extras is not null)
            {
                Extras().RetainUntilMs = value;
            }
        }
    }

    /// <summary>How long the factory took (XFetch's delta).</summary>
    public double DeltaMs
    {
        get => _deltaMs;
        init => _deltaMs = (float)value;
    }

    /// <summary>The shared tier's epoch of the key when this value was stored (0 without a shared tier).</summary>
    public long Epoch
    {
        get => _extras?.Epoch ?? 0;
        init
        {
            if (value != 0)
            {
                Extras().Epoch = value;
            }
        }
    }

    /// <summary>The entry's weight under the L1's weigher (0 without one). Set by the store before the entry is published.</summary>
    public long Weight
    {
        get => _extras?.Weight ?? 0;
        set
        {
            if (value != 0 || _extras is not null)
            {
                Extras().Weight = value;
            }
        }
    }

    /// <summary>Fail-safe throttle: until then, the stale value is served without calling the factory.</summary>
    public long ThrottleUntilMs => Volatile.Read(ref _extras) is { } extras ? Volatile.Read(ref extras.ThrottleUntilMs) : 0;

    /// <summary>Starts (or extends) the fail-safe throttle. Mutable after publication.</summary>
    public void ThrottleUntil(long untilMs) => Volatile.Write(ref Extras().ThrottleUntilMs, untilMs);

    /// <summary>True for the one caller that starts this entry's early refresh (at most one per entry).</summary>
    public bool TryBeginRefresh() => Interlocked.CompareExchange(ref Extras().Refreshing, 1, 0) == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TagsCurrent() => (_flags & HasTagsFlag) == 0 || ExtrasTagsCurrent();

    /// <summary>True when the value was not invalidated (clear or tag) since it was stored; says nothing about expiry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsValid(long clearVersion) => _clearStamp == unchecked((int)clearVersion) && TagsCurrent();

    public long AgeMs(long now) => Math.Max(0, now - CreatedAtMs);

    private bool ExtrasTagsCurrent()
    {
        var extras = _extras!;
        var tags = extras.Tags!;
        var stamps = extras.TagStamps!;
        for (var i = 0; i < tags.Length; i++)
        {
            if (Volatile.Read(ref tags[i].Version) != stamps[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The entry's extras, created on first need. Before publication (initializers, the store's weight) one thread writes
    /// them; after it (throttle, refresh flag) two threads may race to create them: one wins, and since a fresh extras holds
    /// exactly the defaults an entry without extras reads, the loser's view never differed.
    /// </summary>
    private CacheEntryExtras Extras()
    {
        var extras = Volatile.Read(ref _extras);
        if (extras is not null)
        {
            return extras;
        }

        var created = new CacheEntryExtras();
        return Interlocked.CompareExchange(ref _extras, created, null) ?? created;
    }
}

/// <summary>
/// The part of a <see cref="CacheEntry"/> only some entries need. Every field's initial value is what an entry without
/// extras reads, so creating one never changes what the entry says.
/// </summary>
internal sealed class CacheEntryExtras
{
    /// <summary><see cref="RetainUntilMs"/> when the entry is retained exactly until it expires.</summary>
    public const long SameAsExpiry = long.MinValue;

    public TagState[]? Tags;
    public long[]? TagStamps;
    public string? Metadata;
    public long EarlyRefreshFromMs = long.MaxValue;
    public long RetainUntilMs = SameAsExpiry;
    public long Epoch;
    public long Weight;
    public long ThrottleUntilMs;
    public int Refreshing;
}
