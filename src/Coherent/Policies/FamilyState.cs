using Coherent.Telemetry;

namespace Coherent.Policies;

/// <summary>A family's policy pre-converted to the millisecond figures the hot path compares against, plus its statistics.</summary>
internal sealed class FamilyState
{
    public FamilyState(FamilyPolicy policy, bool declared)
    {
        Policy = policy;
        Declared = declared;
        Name = policy.Family;
        MaxStalenessMs = (long)policy.MaxStaleness.TotalMilliseconds;
        TtlMs = (long)policy.Ttl.TotalMilliseconds;
        LocalTtlMs = (long)policy.LocalTtl.TotalMilliseconds;
        FailSafeMaxAgeMs = policy.FailSafeMaxAge is { } f ? (long)f.TotalMilliseconds : -1;
        FailSafeThrottleMs = (long)policy.FailSafeThrottle.TotalMilliseconds;
    }

    public string Name { get; }
    public FamilyPolicy Policy { get; }

    /// <summary>False for the default policy that non-strict caches apply to undeclared families.</summary>
    public bool Declared { get; }

    public long MaxStalenessMs { get; }
    public long TtlMs { get; }
    public long LocalTtlMs { get; }

    /// <summary>-1 when fail-safe is off.</summary>
    public long FailSafeMaxAgeMs { get; }

    /// <summary>
    /// The last instant fail-safe may serve a value computed at <paramref name="createdAtMs"/> (its FailSafeMaxAge later);
    /// <see cref="long.MinValue"/> when fail-safe is off. The one rule for how long a last good value is kept and served.
    /// </summary>
    public long FailSafeUntilMs(long createdAtMs) => FailSafeMaxAgeMs >= 0 ? createdAtMs + FailSafeMaxAgeMs : long.MinValue;

    /// <summary>Whether fail-safe may serve, at <paramref name="nowMs"/>, a value computed at <paramref name="createdAtMs"/>.</summary>
    public bool FailSafeAllows(long createdAtMs, long nowMs) => nowMs <= FailSafeUntilMs(createdAtMs);

    public long FailSafeThrottleMs { get; }
    public FamilyStats Stats { get; } = new();
}
