namespace Coherent.Testing;

/// <summary>Percentiles of a sample.</summary>
public static class Percentiles
{
    /// <summary>Nearest-rank percentile of <paramref name="values"/> (p in 0..100); NaN for no values.</summary>
    public static double Of(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
