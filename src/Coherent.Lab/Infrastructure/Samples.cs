using System.Globalization;

namespace Coherent.Lab.Infrastructure;

/// <summary>A thread-safe bag of measurements with percentiles.</summary>
internal sealed class Samples
{
    private readonly List<double> _values = [];
    private readonly Lock _lock = new();

    public void Add(double value)
    {
        lock (_lock)
        {
            _values.Add(value);
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _values.Count;
            }
        }
    }

    public double Percentile(double p)
    {
        double[] sorted;
        lock (_lock)
        {
            if (_values.Count == 0)
            {
                return double.NaN;
            }

            sorted = [.. _values];
        }

        Array.Sort(sorted);
        var rank = Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[rank];
    }

    public double Max => Percentile(100);

    public static string Ms(double value) => double.IsNaN(value) ? "-" : value switch
    {
        < 0.001 => (value * 1_000_000).ToString("0.#", CultureInfo.InvariantCulture) + " ns",
        < 1 => (value * 1000).ToString("0.#", CultureInfo.InvariantCulture) + " µs",
        < 100 => value.ToString("0.0", CultureInfo.InvariantCulture) + " ms",
        _ => value.ToString("0", CultureInfo.InvariantCulture) + " ms",
    };
}
