namespace Coherent.Policies;

/// <summary>
/// How long an entry lives, in the shared tier (its TTL) and locally: the family's policy, shortened by a call's
/// <see cref="CacheEntryOptions.Ttl"/>. The one exception is the HybridCache adapter's expirations
/// (<see cref="CacheEntryOptions.ReplacesDefaultPolicy"/>) on a key of an undeclared family: nobody decided that family's
/// lifetimes, so the call's replace them, longer ones included, as HybridCache's would. A declared family's Ttl still caps.
/// </summary>
internal static class EntryLifetime
{
    /// <summary>Caps a lifetime far beyond any cache's horizon, so that adding it to a timestamp cannot overflow.</summary>
    private const long MaxMs = 100L * 365 * 24 * 60 * 60 * 1000;

    public static long TtlMs(FamilyState family, CacheEntryOptions? options) =>
        Apply(family.TtlMs, options?.Ttl, options is { ReplacesDefaultPolicy: true } && !family.Declared);

    /// <summary>The local lifetime, never past the entry's TTL.</summary>
    public static long LocalMs(FamilyState family, CacheEntryOptions? options, long ttlMs) =>
        Math.Min(ttlMs, Apply(family.LocalTtlMs, options?.LocalTtl, options is { ReplacesDefaultPolicy: true } && !family.Declared));

    private static long Apply(long policyMs, TimeSpan? requested, bool replace)
    {
        if (requested is not { } value || value <= TimeSpan.Zero)
        {
            return policyMs;
        }

        var ms = value.TotalMilliseconds >= MaxMs ? MaxMs : (long)value.TotalMilliseconds;
        return replace ? ms : Math.Min(policyMs, ms);
    }
}
