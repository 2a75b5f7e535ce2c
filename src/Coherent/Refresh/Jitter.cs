namespace Coherent.Refresh;

/// <summary>Spreads expiries so that entries written together do not expire together.</summary>
internal static class Jitter
{
    /// <summary>
    /// TTL × (1 − f), f uniform in (0, fraction]: expiries spread below the TTL, never past it — the TTL is the longest a
    /// family declared a value may live, so jitter may only shorten it.
    /// </summary>
    public static long Apply(long ttlMs, double fraction, Random random)
    {
        if (fraction <= 0)
        {
            return ttlMs;
        }

        var factor = 1 - ((1 - random.NextDouble()) * fraction);
        return Math.Max(1, (long)(ttlMs * factor));
    }
}
