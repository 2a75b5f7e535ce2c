namespace Coherent.Telemetry;

/// <summary>Running counts for one family, read by the advisor and by the observable instruments.</summary>
internal sealed class FamilyStats
{
    private const int CostSamples = 256;
    private readonly double[] _costMs = new double[CostSamples];
    private readonly Lock _costLock = new();
    private int _costCount;
    private int _costNext;

    public StripedCounter Hits { get; } = new();
    /// <summary>Reads L1 could not serve fresh and that were not stale: the sum of the four counts below (the advisor's misses).</summary>
    public StripedCounter Misses { get; } = new();

    // Misses by what they ended in, each its own counter: a dashboard's outcomes must each only ever grow, which a difference
    // of two counters read one after the other would not.
    public StripedCounter L2Hits { get; } = new();
    public StripedCounter Computed { get; } = new();
    public StripedCounter NotFound { get; } = new();
    public StripedCounter FailedReads { get; } = new();
    public StripedCounter StaleServed { get; } = new();
    public StripedCounter EarlyRefreshes { get; } = new();
    public StripedCounter Writes { get; } = new();
    public StripedCounter Invalidations { get; } = new();
    public StripedCounter FactoryRuns { get; } = new();
    public StripedCounter FactoryFailures { get; } = new();
    public StripedCounter FailSafeActivations { get; } = new();
    public StripedCounter SingleFlightJoins { get; } = new();

    public void RecordFactoryCost(double milliseconds)
    {
        lock (_costLock)
        {
            _costMs[_costNext] = milliseconds;
            _costNext = (_costNext + 1) % CostSamples;
            if (_costCount < CostSamples)
            {
                _costCount++;
            }
        }
    }

    /// <summary>Median of the most recent factory durations (up to 256), or null when none ran yet.</summary>
    public double? MedianFactoryCostMs()
    {
        double[] copy;
        lock (_costLock)
        {
            if (_costCount == 0)
            {
                return null;
            }

            copy = _costMs.AsSpan(0, _costCount).ToArray();
        }

        Array.Sort(copy);
        var mid = copy.Length / 2;
        return copy.Length % 2 == 1 ? copy[mid] : (copy[mid - 1] + copy[mid]) / 2;
    }
}
