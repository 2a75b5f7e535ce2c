namespace Coherent.Testing;

/// <summary>The p-th percentile of a sample (nearest rank).</summary>
public static class Percentiles
{
    public static double Of(IReadOnlyList<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100 * sorted.Length) - 1)];
    }
}
