namespace Coherent;

/// <summary>Per-call options for a cache entry. Reuse one instance for calls with the same options: it is read, never changed.</summary>
public sealed class CacheEntryOptions
{
    /// <summary>Tags attached to the stored entry; <c>InvalidateTagAsync(tag)</c> drops every entry carrying the tag. Default none.</summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>Overrides the family's <see cref="FamilyPolicy.Ttl"/> for this entry (it still may not exceed the family's TTL). Default: the family's.</summary>
    public TimeSpan? Ttl { get => Decided is { } decided ? decided.Ttl : _ttl; init => _ttl = value; }

    private readonly TimeSpan? _ttl;
    private readonly TimeSpan? _localTtl;
    private readonly bool _skipLocalWrite;
    private readonly bool _skipSharedWrite;

    /// <summary>
    /// The options a factory decided once it had computed (the HybridCache adapter's entry context): when set, they replace
    /// this instance's lifetimes and write flags. The engine reads those when it stores the value, after the factory, so a
    /// decision goes through the same fenced store as any fill. Only ever set on an instance made for one call.
    /// </summary>
    internal CacheEntryOptions? Decided { get; set; }

    /// <summary>
    /// The tags a context factory added (<see cref="CacheFactoryContext{T}.AddTags"/>), none of them among <see cref="Tags"/>:
    /// their versions before the factory are unknown, so the flight fences them with the tag-bump counts it captured before
    /// the factory (<see cref="Invalidation.InvalidationGate.TryStampAddedTags"/>). Only ever set on a decision.
    /// </summary>
    internal IReadOnlyList<string>? AddedTags { get => Decided is { } decided ? decided.AddedTags : _addedTags; private init => _addedTags = value; }

    private readonly IReadOnlyList<string>? _addedTags;

    /// <summary>The metadata a context factory stored beside the value (<see cref="CacheFactoryContext{T}.Metadata"/>), or null.</summary>
    internal string? Metadata { get => Decided is { } decided ? decided.Metadata : _metadata; private init => _metadata = value; }

    private readonly string? _metadata;

    /// <summary>
    /// Set for a call whose factory gets a context (it may add tags): the flight captures the tag-bump counts its added tags
    /// are fenced with, and a caller joins it only while no tag was bumped since it began.
    /// </summary>
    internal bool FactoryDecides { get; init; }

    /// <summary>Stores the value in the local tier only, never in the shared tier. Default false.</summary>
    public bool LocalOnly { get; init; }

    /// <summary>The HybridCache adapter's <c>LocalCacheExpiration</c>: the entry's local lifetime (capped like <see cref="Ttl"/>; see <see cref="Policies.EntryLifetime"/>).</summary>
    internal TimeSpan? LocalTtl { get => Decided is { } decided ? decided.LocalTtl : _localTtl; init => _localTtl = value; }

    /// <summary>
    /// Set by the HybridCache adapter: for a key of an undeclared family, <see cref="Ttl"/> and <see cref="LocalTtl"/> replace
    /// the default policy's lifetimes instead of being capped by them (<see cref="Policies.EntryLifetime"/>).
    /// </summary>
    internal bool ReplacesDefaultPolicy { get; init; }

    /// <summary>The HybridCache adapter's <c>DisableLocalCacheRead</c>: this call does not serve from the local tier.</summary>
    internal bool SkipLocalRead { get; init; }

    /// <summary>The HybridCache adapter's <c>DisableLocalCacheWrite</c>: this call stores nothing in the local tier (an older local value is dropped).</summary>
    internal bool SkipLocalWrite { get => Decided is { } decided ? decided.SkipLocalWrite : _skipLocalWrite; init => _skipLocalWrite = value; }

    /// <summary>The HybridCache adapter's DisableDistributedCacheWrite: the shared tier is read, but a computed value is not stored in it.</summary>
    internal bool SkipSharedWrite { get => Decided is { } decided ? decided.SkipSharedWrite : _skipSharedWrite; init => _skipSharedWrite = value; }

    /// <summary>A copy of <paramref name="options"/> (or of no options) for one call, whose factory may decide on it.</summary>
    internal static CacheEntryOptions ForOneCall(CacheEntryOptions? options) => options is null ? new CacheEntryOptions() : new CacheEntryOptions(options);

    /// <summary>A copy for one call whose factory gets a context (<see cref="FactoryDecides"/>).</summary>
    internal static CacheEntryOptions ForContextCall(CacheEntryOptions? options) =>
        options is null ? new CacheEntryOptions { FactoryDecides = true } : new CacheEntryOptions(options) { FactoryDecides = true };

    /// <summary>These options with a factory's decision: a shorter TTL, nothing stored in either tier, added tags, metadata.</summary>
    internal CacheEntryOptions WithDecision(TimeSpan ttl, bool notCached, IReadOnlyList<string>? addedTags, string? metadata) => new(this)
    {
        Ttl = ttl,
        LocalTtl = LocalTtl is { } local && local < ttl ? local : ttl,
        SkipLocalWrite = SkipLocalWrite || notCached,
        SkipSharedWrite = SkipSharedWrite || notCached,
        AddedTags = addedTags,
        Metadata = metadata,
    };

    /// <summary>Creates options with every default (the family's lifetimes, both tiers, no tags).</summary>
    public CacheEntryOptions()
    {
    }

    /// <summary>A copy of <paramref name="source"/>'s own settings (never a decision made on it): the one place that lists them.</summary>
    private CacheEntryOptions(CacheEntryOptions source)
    {
        Tags = source.Tags;
        _ttl = source._ttl;
        LocalOnly = source.LocalOnly;
        _localTtl = source._localTtl;
        ReplacesDefaultPolicy = source.ReplacesDefaultPolicy;
        SkipLocalRead = source.SkipLocalRead;
        _skipLocalWrite = source._skipLocalWrite;
        _skipSharedWrite = source._skipSharedWrite;
        FactoryDecides = source.FactoryDecides;
    }
}
