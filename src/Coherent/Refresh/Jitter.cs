namespace Coherent.Refresh;

/// <summary>Spreads expiries so that entries written together do not expire together.</summary>
internal static class Jitter
{
    /// <summary>TTL × (1 + f), f uniform in [-fraction, +fraction].</summary>
    public static long Apply(long ttlMs, double fraction, Random random)
    {
        if (fraction <= 0)
        {
            return ttlMs;
        }

        var factor = 1 + (((random.NextDouble() * 2) - 1) * fraction);
        return Math.Max(1, (long)(ttlMs * factor));
    }
}
