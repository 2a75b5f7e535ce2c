namespace Coherent;

/// <summary>
/// What a factory given to <see cref="CoherentCache.GetOrSetAsync{T}(string, Func{CacheFactoryContext{T}, CancellationToken, ValueTask{T}}, CacheEntryOptions?, CancellationToken)"/>
/// knows and decides about the entry it computes: it sees the previous value (when one is cached and was not invalidated),
/// with the metadata stored beside it, may shorten the entry's lifetime, add tags, store metadata (an ETag), or say not to
/// cache its result at all. Decisions are applied when the value is
/// stored, through the same fenced store as any fill; they never lengthen what the family's policy allows.
/// </summary>
/// <typeparam name="T">The value type.</typeparam>
public sealed class CacheFactoryContext<T>
{
    /// <summary>The largest <see cref="Metadata"/>, in UTF-8 bytes: it travels with every read of the entry.</summary>
    public const int MaxMetadataBytes = 4096;

    private readonly TimeSpan _familyTtl;
    private readonly IReadOnlyList<string> _callTags;
    private List<string>? _added;
    private TimeSpan _ttl;
    private string? _metadata;

    internal CacheFactoryContext(string key, string family, TimeSpan ttl, TimeSpan familyTtl, IReadOnlyList<string>? callTags, Previous previous)
    {
        Key = key;
        Family = family;
        _ttl = ttl;
        _familyTtl = familyTtl;
        _callTags = callTags ?? [];
        HasPrevious = previous.Has;
        PreviousValue = previous.Value;
        PreviousCreatedAt = previous.CreatedAt;
        PreviousMetadata = previous.Metadata;
    }

    /// <summary>The previous value as the engine found it.</summary>
    internal readonly record struct Previous(bool Has, T? Value, DateTimeOffset? CreatedAt, string? Metadata);

    /// <summary>The key being computed.</summary>
    public string Key { get; }

    /// <summary>The key's family.</summary>
    public string Family { get; }

    /// <summary>
    /// Whether a previous value is held locally — before its expiry (an early refresh), or after it for a fail-safe family,
    /// whose values are kept (and fetched from the shared tier's retention); never one that was invalidated. The factory can ask
    /// its source "changed since?" (an ETag kept in the value, a version) and return <see cref="PreviousValue"/> when not.
    /// A value kept that way is as fresh as the check that confirmed it: it is stored as a new fill.
    /// </summary>
    public bool HasPrevious { get; }

    /// <summary>The previous value, or default when <see cref="HasPrevious"/> is false.</summary>
    public T? PreviousValue { get; }

    /// <summary>When the previous value was computed (the engine's clock), or null.</summary>
    public DateTimeOffset? PreviousCreatedAt { get; }

    /// <summary>
    /// The <see cref="Metadata"/> stored with the previous value (an ETag, a version), or null when there is no previous value
    /// or it was stored without any. With it the factory can ask its source "changed since?" and, when not, return
    /// <see cref="PreviousValue"/> with fresh metadata.
    /// </summary>
    public string? PreviousMetadata { get; }

    /// <summary>
    /// A small string stored beside the value in both tiers (an ETag, a Last-Modified, a version), shown to the next
    /// computation of the key as <see cref="PreviousMetadata"/>. Null (the default) stores none; it is not carried over from
    /// the previous value unless set again. At most <see cref="MaxMetadataBytes"/> UTF-8 bytes: longer throws
    /// <see cref="ArgumentOutOfRangeException"/>. Covered by the shared tier's signature like the value.
    /// </summary>
    public string? Metadata
    {
        get => _metadata;
        set
        {
            if (value is not null && System.Text.Encoding.UTF8.GetByteCount(value) is var bytes && bytes > MaxMetadataBytes)
            {
                throw new ArgumentOutOfRangeException(nameof(value), bytes,
                    $"The metadata of '{Key}' is {bytes} UTF-8 bytes, over the limit of {MaxMetadataBytes}.");
            }

            _metadata = value;
            Changed = true;
        }
    }

    /// <summary>
    /// The tags the entry will carry: the call's (<see cref="CacheEntryOptions.Tags"/>) and those added with <see cref="AddTags"/>.
    /// </summary>
    public IReadOnlyList<string> Tags => _added is null ? _callTags : [.. _callTags, .. _added];

    /// <summary>
    /// Adds tags to the entry (a tag already carried is ignored), so <c>InvalidateTagAsync</c> of any of them drops it. The
    /// staleness contract holds as for the call's tags: if one of them may have been invalidated while the factory ran, the
    /// value is returned but not cached (see docs/guarantees.md, "Tags a factory adds"). Each tag is checked like an entry's
    /// tags; an invalid one throws <see cref="ArgumentException"/> naming every bad tag, and none is added.
    /// </summary>
    public void AddTags(params string[] tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var problems = new List<string>();
        for (var i = 0; i < tags.Length; i++)
        {
            try
            {
                Policies.KeyRules.ValidateTag(tags[i]);
            }
            catch (ArgumentException ex)
            {
                problems.Add(tags[i] is null ? $"tag {i} is null" : $"tag {i} '{tags[i]}': {ex.Message.Split(" (Parameter", 2)[0]}");
            }
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException($"The factory of '{Key}' added invalid tags: {string.Join("; ", problems)}.", nameof(tags));
        }

        foreach (var tag in tags)
        {
            if (!_callTags.Contains(tag) && !(_added?.Contains(tag) ?? false))
            {
                (_added ??= []).Add(tag);
                Changed = true;
            }
        }
    }

    /// <summary>The tags added by the factory, not among the call's; null when none.</summary>
    internal IReadOnlyList<string>? AddedTags => _added;

    /// <summary>
    /// The entry's time to live, starting from the call's (or the family's). It may be shortened, never lengthened past
    /// the family's Ttl: a longer or non-positive value throws <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public TimeSpan Ttl
    {
        get => _ttl;
        set
        {
            if (value <= TimeSpan.Zero || value > _familyTtl)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value,
                    $"The Ttl of '{Key}' must be positive and at most its family '{Family}''s Ttl of {PolicyReport.FormatDuration(_familyTtl)}.");
            }

            _ttl = value;
            Changed = true;
        }
    }

    /// <summary>
    /// Do not cache this result (an error page, an empty search): it is returned to this caller and to every caller waiting
    /// on the same computation, and stored in neither tier (an older local copy is dropped).
    /// </summary>
    public void DoNotCache()
    {
        NotCached = true;
        Changed = true;
    }

    /// <summary>Whether <see cref="DoNotCache"/> was called.</summary>
    public bool NotCached { get; private set; }

    internal bool Changed { get; private set; }
}
