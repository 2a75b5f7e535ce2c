using Microsoft.Extensions.Caching.Hybrid;

namespace Coherent.DependencyInjection;

/// <summary>
/// HybridCache's options (<see cref="HybridCacheOptions.DefaultEntryOptions"/> and each call's
/// <see cref="HybridCacheEntryOptions"/>) as Coherent entry options, by HybridCache's precedence: a call's Flags replace the
/// default flags; its Expiration, else the default's, is the entry's TTL; its LocalCacheExpiration, else its Expiration,
/// else the default's LocalCacheExpiration, else the default's Expiration, is the local lifetime. What is given nowhere
/// is the key's family policy (the default policy: 5 minutes, as HybridCache's).
/// </summary>
internal sealed class HybridOptionsMap
{
    private readonly HybridCacheEntryFlags _defaultFlags;
    private readonly TimeSpan? _defaultExpiration;
    private readonly TimeSpan? _defaultLocalExpiration;

    public HybridOptionsMap(HybridCacheOptions options)
    {
        var defaults = options.DefaultEntryOptions;
        _defaultFlags = defaults?.Flags ?? HybridCacheEntryFlags.None;
        _defaultExpiration = defaults?.Expiration;
        _defaultLocalExpiration = defaults?.LocalCacheExpiration ?? defaults?.Expiration;

        // Built once: a call without options or tags (the common one) allocates nothing for them, and with no defaults
        // configured it passes null, so the L1 hit is exactly Coherent's own.
        Defaults = _defaultFlags == HybridCacheEntryFlags.None && _defaultExpiration is null && _defaultLocalExpiration is null ? null : Build(null, null);
    }

    /// <summary>The entry options of a call that gives neither options nor tags.</summary>
    public CacheEntryOptions? Defaults { get; }

    public HybridCacheEntryFlags FlagsOf(HybridCacheEntryOptions? options) => options?.Flags ?? _defaultFlags;

    public bool Has(HybridCacheEntryOptions? options, HybridCacheEntryFlags flag) => (FlagsOf(options) & flag) != 0;

    public CacheEntryOptions? Map(HybridCacheEntryOptions? options, IEnumerable<string>? tags) =>
        options is null && tags is null ? Defaults : Build(options, ValidTags(tags));

    /// <summary>A new instance even for a call without options or tags: one whose factory may decide (<see cref="CacheEntryOptions.Decided"/>).</summary>
    public CacheEntryOptions MapForOneCall(HybridCacheEntryOptions? options, IEnumerable<string>? tags) => Build(options, ValidTags(tags));

    /// <summary>What a factory decided in its entry context, as entry options (the call's tags stay: the context has none).</summary>
    public CacheEntryOptions MapDecision(HybridCacheEntryOptions decided, CacheEntryOptions call) => Build(decided, call.Tags as string[]);

    private CacheEntryOptions Build(HybridCacheEntryOptions? options, string[]? tags)
    {
        var flags = FlagsOf(options);
        return new CacheEntryOptions
        {
            Ttl = options?.Expiration ?? _defaultExpiration,
            LocalTtl = (options is null ? null : options.LocalCacheExpiration ?? options.Expiration) ?? _defaultLocalExpiration,
            ReplacesDefaultPolicy = true,
            Tags = tags,
            // Reading disabled: local only (a fill would have no epoch to be fenced with); writing disabled alone: read, not stored.
            LocalOnly = (flags & HybridCacheEntryFlags.DisableDistributedCacheRead) != 0,
            SkipSharedWrite = (flags & HybridCacheEntryFlags.DisableDistributedCacheWrite) != 0,
            SkipLocalRead = (flags & HybridCacheEntryFlags.DisableLocalCacheRead) != 0,
            SkipLocalWrite = (flags & HybridCacheEntryFlags.DisableLocalCacheWrite) != 0,
        };
    }

    private static string[]? ValidTags(IEnumerable<string>? tags)
    {
        var tagArray = tags?.ToArray();
        if (tagArray is null)
        {
            return null;
        }

        // HybridCache refuses these per entry (ArgumentException on "tags"): "*" means every entry to RemoveByTagAsync,
        // and an empty tag could never be named by an invalidation.
        foreach (var tag in tagArray)
        {
            if (string.IsNullOrWhiteSpace(tag))
            {
                throw new ArgumentException("Tags cannot be empty.", nameof(tags));
            }

            if (tag == "*")
            {
                throw new ArgumentException("The tag '*' is reserved and cannot be used in this context.", nameof(tags));
            }
        }

        return tagArray;
    }
}
