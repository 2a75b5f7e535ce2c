namespace Coherent;

/// <summary>
/// The staleness decision for one family of keys, as the product owner made it: how stale a reader may see a value,
/// how long entries live, and what happens when the source is slow or failing. Immutable; built with
/// <see cref="FamilyPolicyBuilder"/> or bound from configuration (<c>Coherent:Families:&lt;family&gt;:*</c>).
/// </summary>
public sealed class FamilyPolicy
{
    internal FamilyPolicy(string family, FamilyPolicyBuilder b)
    {
        Family = family;
        MaxStaleness = b.MaxStalenessValue ?? TimeSpan.Zero;
        Ttl = b.TtlValue ?? FamilyPolicyBuilder.DefaultTtl;
        LocalTtl = b.LocalTtlValue ?? Ttl;
        Jitter = b.JitterValue ?? FamilyPolicyBuilder.DefaultJitter;
        EarlyRefreshBeta = b.EarlyRefreshSet ? b.EarlyRefreshBetaValue : FamilyPolicyBuilder.DefaultBeta;
        FailSafeMaxAge = b.FailSafeMaxAgeValue;
        FailSafeThrottle = b.FailSafeThrottleValue ?? FamilyPolicyBuilder.DefaultThrottle;
        SoftTimeout = b.SoftTimeoutValue;
        HardTimeout = b.HardTimeoutValue;
        Reason = b.ReasonValue;
        CopyOnRead = b.CopyOnReadValue;
    }

    /// <summary>The family name: the part of a key before its first <c>:</c>.</summary>
    public string Family { get; }

    /// <summary>
    /// Required. The longest a reader may see a value after the source changed and the writer told the cache.
    /// With a shared tier, a node whose invalidation bus is unhealthy stops serving local entries it cannot confirm within this bound.
    /// </summary>
    public TimeSpan MaxStaleness { get; }

    /// <summary>Hard expiry of an entry (in the shared tier, and locally unless <see cref="LocalTtl"/> is shorter). Default 5 minutes.</summary>
    public TimeSpan Ttl { get; }

    /// <summary>Expiry in the local (L1) tier; defaults to <see cref="Ttl"/> and may not exceed it.</summary>
    public TimeSpan LocalTtl { get; }

    /// <summary>Fraction in [0, 1) by which each entry's local TTL is randomly shortened (uniform, never lengthened past the Ttl). Default 0.05.</summary>
    public double Jitter { get; }

    /// <summary>The XFetch <c>beta</c> for probabilistic early refresh, or <see langword="null"/> when early refresh is off. Default 1.0.</summary>
    public double? EarlyRefreshBeta { get; }

    /// <summary>
    /// How old (since it was computed) a value may be and still be served when the factory fails or passes its hard timeout;
    /// <see langword="null"/> (the default) disables fail-safe.
    /// </summary>
    public TimeSpan? FailSafeMaxAge { get; }

    /// <summary>After a fail-safe activation, how long the stale value is served before the factory is tried again. Default 30 seconds.</summary>
    public TimeSpan FailSafeThrottle { get; }

    /// <summary>
    /// After this long, a caller waiting on a factory gets the stale value (if fail-safe allows one) while the factory
    /// finishes in the background. <see langword="null"/> (default): no soft timeout.
    /// </summary>
    public TimeSpan? SoftTimeout { get; }

    /// <summary>After this long, the factory is abandoned (and its token cancelled). <see langword="null"/> (default): no hard timeout.</summary>
    public TimeSpan? HardTimeout { get; }

    /// <summary>Free text: who decided this policy and why ("prices must show within 5 s: pricing team, 2026-11").</summary>
    public string? Reason { get; }

    /// <summary>When true, every read returns a fresh copy made through the serializer instead of the shared cached object. Default false.</summary>
    public bool CopyOnRead { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Family}: MaxStaleness={MaxStaleness}, Ttl={Ttl}";
}
