namespace Coherent.Policies;

/// <summary>Checks every family's settings at build time and returns every problem, not just the first.</summary>
internal static class PolicyValidator
{
    public static void Validate(string family, FamilyPolicyBuilder b, List<string> problems)
    {
        if (!FamilyRegistry.IsValidFamilyName(family))
        {
            problems.Add($"Family name '{family}' is invalid: use 1-64 characters without ':', whitespace or control characters.");
        }

        if (b.MaxStalenessValue is null)
        {
            problems.Add($"Family '{family}': MaxStaleness is required (the longest a reader may see a value after it changed).");
        }
        else
        {
            Positive(family, "MaxStaleness", b.MaxStalenessValue, problems);
        }

        Positive(family, "Ttl", b.TtlValue, problems);
        Positive(family, "LocalTtl", b.LocalTtlValue, problems);
        Positive(family, "FailSafeMaxAge", b.FailSafeMaxAgeValue, problems);
        Positive(family, "FailSafeThrottle", b.FailSafeThrottleValue, problems);
        Positive(family, "SoftTimeout", b.SoftTimeoutValue, problems);
        Positive(family, "HardTimeout", b.HardTimeoutValue, problems);

        var ttl = b.TtlValue ?? FamilyPolicyBuilder.DefaultTtl;
        if (b.LocalTtlValue is { } local && local > ttl)
        {
            problems.Add($"Family '{family}': LocalTtl ({local}) is longer than Ttl ({ttl}); the local copy may not outlive the shared one.");
        }

        if (b.JitterValue is { } j && (double.IsNaN(j) || j < 0 || j >= 1))
        {
            problems.Add($"Family '{family}': Jitter must be in [0, 1); got {j}.");
        }

        if (b.EarlyRefreshBetaValue is { } beta && (double.IsNaN(beta) || double.IsInfinity(beta) || beta < 0))
        {
            problems.Add($"Family '{family}': EarlyRefresh beta must be a finite number >= 0; got {beta}.");
        }

        // Timeouts are waited on with Task.WaitAsync, which refuses anything over ~49.7 days at every factory run.
        foreach (var (name, value) in new[] { ("SoftTimeout", b.SoftTimeoutValue), ("HardTimeout", b.HardTimeoutValue) })
        {
            if (value > MaxTimeout)
            {
                problems.Add($"Family '{family}': {name} ({value}) is longer than the longest supported timeout ({MaxTimeout}).");
            }
        }

        if (b.SoftTimeoutValue is { } soft && b.HardTimeoutValue is { } hard && soft >= hard)
        {
            problems.Add($"Family '{family}': SoftTimeout ({soft}) must be shorter than HardTimeout ({hard}).");
        }

        if (b.SoftTimeoutValue is not null && b.FailSafeMaxAgeValue is null)
        {
            problems.Add($"Family '{family}': SoftTimeout needs FailSafe (a soft timeout serves the last value, which fail-safe must allow).");
        }
    }

    /// <summary>The longest timeout a timer supports (uint.MaxValue - 1 milliseconds).</summary>
    internal static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private static void Positive(string family, string name, TimeSpan? value, List<string> problems)
    {
        if (value is { } v && v <= TimeSpan.Zero)
        {
            problems.Add($"Family '{family}': {name} must be positive; got {v}.");
        }
    }
}
