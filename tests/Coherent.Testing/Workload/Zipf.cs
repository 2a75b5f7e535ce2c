namespace Coherent.Testing;

/// <summary>Zipf-distributed ids in [1, n] with exponent s, by inverse CDF over a precomputed table.</summary>
public sealed class Zipf
{
    private readonly double[] _cdf;

    public Zipf(int n, double s)
    {
        _cdf = new double[n];
        double sum = 0;
        for (var i = 1; i <= n; i++)
        {
            sum += 1.0 / Math.Pow(i, s);
            _cdf[i - 1] = sum;
        }

        for (var i = 0; i < n; i++)
        {
            _cdf[i] /= sum;
        }
    }

    public int Next(Random random)
    {
        var index = Array.BinarySearch(_cdf, random.NextDouble());
        return (index < 0 ? ~index : index) + 1;
    }
}
