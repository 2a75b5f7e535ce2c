namespace Coherent;

/// <summary>Fluent description of one family's <see cref="FamilyPolicy"/>. Values are validated when the cache is built.</summary>
public sealed class FamilyPolicyBuilder
{
    internal static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(5);
    internal static readonly TimeSpan DefaultThrottle = TimeSpan.FromSeconds(30);
    internal const double DefaultJitter = 0.05;
    internal const double DefaultBeta = 1.0;

    internal TimeSpan? MaxStalenessValue { get; set; }
    internal TimeSpan? TtlValue { get; set; }
    internal TimeSpan? LocalTtlValue { get; set; }
    internal double? JitterValue { get; set; }
    internal bool EarlyRefreshSet { get; set; }
    internal double? EarlyRefreshBetaValue { get; set; }
    internal TimeSpan? FailSafeMaxAgeValue { get; set; }
    internal TimeSpan? FailSafeThrottleValue { get; set; }
    internal TimeSpan? SoftTimeoutValue { get; set; }
    internal TimeSpan? HardTimeoutValue { get; set; }
    internal string? ReasonValue { get; set; }
    internal bool CopyOnReadValue { get; set; }

    /// <summary>Required: the longest a reader may see a value after the source changed and the writer told the cache.</summary>
    public FamilyPolicyBuilder MaxStaleness(TimeSpan value) { MaxStalenessValue = value; return this; }

    /// <summary>Hard expiry of entries. Default 5 minutes.</summary>
    public FamilyPolicyBuilder Ttl(TimeSpan value) { TtlValue = value; return this; }

    /// <summary>Expiry in the local tier, at most <see cref="Ttl"/>. Default: the TTL.</summary>
    public FamilyPolicyBuilder LocalTtl(TimeSpan value) { LocalTtlValue = value; return this; }

    /// <summary>Random TTL spread as a fraction in [0, 1): each entry lives TTL × (1 − U·fraction), never past the TTL. Default 0.05.</summary>
    public FamilyPolicyBuilder Jitter(double fraction) { JitterValue = fraction; return this; }

    /// <summary>Turns on XFetch early refresh with the given <paramref name="beta"/> (≥ 0; larger refreshes earlier). On by default with beta 1.</summary>
    public FamilyPolicyBuilder EarlyRefresh(double beta = DefaultBeta) { EarlyRefreshSet = true; EarlyRefreshBetaValue = beta; return this; }

    /// <summary>Turns XFetch early refresh off: entries are recomputed only once expired.</summary>
    public FamilyPolicyBuilder NoEarlyRefresh() { EarlyRefreshSet = true; EarlyRefreshBetaValue = null; return this; }

    /// <summary>
    /// Turns fail-safe on: when the factory fails, a value up to <paramref name="maxAge"/> old is served, and the factory
    /// is not tried again for <paramref name="throttle"/> (default 30 seconds).
    /// </summary>
    public FamilyPolicyBuilder FailSafe(TimeSpan maxAge, TimeSpan? throttle = null)
    {
        FailSafeMaxAgeValue = maxAge;
        FailSafeThrottleValue = throttle ?? FailSafeThrottleValue;
        return this;
    }

    /// <summary>Factory timeouts: <paramref name="soft"/> serves a fail-safe value while the factory goes on; <paramref name="hard"/> abandons it.</summary>
    public FamilyPolicyBuilder Timeouts(TimeSpan? soft = null, TimeSpan? hard = null)
    {
        SoftTimeoutValue = soft;
        HardTimeoutValue = hard;
        return this;
    }

    /// <summary>Records who decided this policy and why; shown in the policy report.</summary>
    public FamilyPolicyBuilder Reason(string text) { ReasonValue = text; return this; }

    /// <summary>Every read returns a copy made through the serializer, so callers may mutate what they get. Default off.</summary>
    public FamilyPolicyBuilder CopyOnRead(bool enabled = true) { CopyOnReadValue = enabled; return this; }

    internal void CopyFrom(FamilyPolicyBuilder other)
    {
        MaxStalenessValue = other.MaxStalenessValue ?? MaxStalenessValue;
        TtlValue = other.TtlValue ?? TtlValue;
        LocalTtlValue = other.LocalTtlValue ?? LocalTtlValue;
        JitterValue = other.JitterValue ?? JitterValue;
        if (other.EarlyRefreshSet)
        {
            EarlyRefreshSet = true;
            EarlyRefreshBetaValue = other.EarlyRefreshBetaValue;
        }

        FailSafeMaxAgeValue = other.FailSafeMaxAgeValue ?? FailSafeMaxAgeValue;
        FailSafeThrottleValue = other.FailSafeThrottleValue ?? FailSafeThrottleValue;
        SoftTimeoutValue = other.SoftTimeoutValue ?? SoftTimeoutValue;
        HardTimeoutValue = other.HardTimeoutValue ?? HardTimeoutValue;
        ReasonValue = other.ReasonValue ?? ReasonValue;
        CopyOnReadValue |= other.CopyOnReadValue;
    }
}
