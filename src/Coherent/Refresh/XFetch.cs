namespace Coherent.Refresh;

/// <summary>
/// Probabilistic early recomputation (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention").
/// A hit refreshes early when <c>now - delta·beta·ln(U) ≥ expiry</c>, U uniform in (0, 1]; so the chance grows as
/// expiry nears and is larger for values that are expensive (large delta) to recompute.
/// </summary>
internal static class XFetch
{
    /// <summary>
    /// Beyond this many delta·beta before expiry the probability is below e^-10 (4.5e-5): the hit path does not toss the coin
    /// there at all, so an entry's early-refresh window starts at expiry minus this many delta·beta.
    /// </summary>
    public const double WindowFactor = 10;

    public static bool ShouldRefresh(long nowMs, long expiresAtMs, double deltaMs, double beta, double u) =>
        nowMs - (deltaMs * beta * Math.Log(u)) >= expiresAtMs;

    /// <summary>Uniform in (0, 1].</summary>
    public static double NextU(Random random) => 1.0 - random.NextDouble();

    public static long WindowStart(long expiresAtMs, double deltaMs, double? beta)
    {
        if (beta is not { } b || b <= 0 || deltaMs <= 0)
        {
            return long.MaxValue;
        }

        return expiresAtMs - (long)Math.Ceiling(deltaMs * b * WindowFactor);
    }

    /// <summary>The probability of an early refresh at <paramref name="gapMs"/> before expiry: exp(-gap / (delta·beta)).</summary>
    public static double Probability(double gapMs, double deltaMs, double beta) =>
        gapMs <= 0 ? 1 : deltaMs * beta <= 0 ? 0 : Math.Exp(-gapMs / (deltaMs * beta));
}
