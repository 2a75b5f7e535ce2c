using System.Globalization;
using System.Text;

namespace Coherent.Testing;

/// <summary>A family's declared bounds, as the checker applies them.</summary>
/// <param name="MaxStalenessMs">The bound on every read once the writer's cache call returned.</param>
/// <param name="TtlMs">The bound in the documented unbounded case (the invalidation failed and is being retried).</param>
public sealed record FamilyBound(double MaxStalenessMs, double TtlMs);

/// <summary>Worst and count of stale reads attributed to one fault kind (or to none: the healthy bus).</summary>
public sealed record FaultFigure(FaultKind Kind, int Injected, int StaleReads, double WorstStaleMs, double WorstUnboundedMs);

/// <summary>What the checker found in a history.</summary>
public sealed class CheckReport
{
    public int ReadsChecked { get; init; }
    public int Writes { get; init; }
    public int FailedWrites { get; init; }
    public int FaultsInjected { get; init; }
    public int StaleReads { get; init; }

    /// <summary>Stale reads explained only by a failed (retried) invalidation: bounded by Ttl, documented.</summary>
    public int UnboundedCaseReads { get; init; }
    public IReadOnlyDictionary<string, int> ErrorsByType { get; init; } = new Dictionary<string, int>();
    public IReadOnlyList<FaultFigure> ByFault { get; init; } = [];
    public IReadOnlyDictionary<string, (int Stale, double WorstMs)> ByFamily { get; init; } = new Dictionary<string, (int, double)>();

    /// <summary>Reads over their family's bound (MaxStaleness, or Ttl in the unbounded case), and reads of versions never written.</summary>
    public IReadOnlyList<string> Violations { get; init; } = [];
    public int ViolationCount { get; init; }

    /// <summary>Violations counted by "fault/family".</summary>
    public IReadOnlyDictionary<string, int> ViolationsByFaultAndFamily { get; init; } = new Dictionary<string, int>();
    public double WorstStaleMs => ByFault.Count == 0 ? 0 : ByFault.Max(f => f.WorstStaleMs);

    public string Summary()
    {
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"reads checked {ReadsChecked}, writes {Writes} ({FailedWrites} failed and retried), faults injected {FaultsInjected}, stale reads {StaleReads} ({UnboundedCaseReads} in the documented unbounded case), violations {ViolationCount}");
        foreach (var f in ByFault)
        {
            s.AppendLine().Append(CultureInfo.InvariantCulture, $"  {f.Kind,-19} injected {f.Injected,3}  stale reads {f.StaleReads,6}  worst {f.WorstStaleMs,7:F1} ms  worst (failed invalidation, Ttl-bounded) {f.WorstUnboundedMs,7:F1} ms");
        }

        foreach (var (type, count) in ErrorsByType)
        {
            s.AppendLine().Append(CultureInfo.InvariantCulture, $"  read errors: {type} x{count}");
        }

        foreach (var (where, count) in ViolationsByFaultAndFamily)
        {
            s.AppendLine().Append(CultureInfo.InvariantCulture, $"  violations in {where}: {count}");
        }

        foreach (var v in Violations)
        {
            s.AppendLine().Append("  VIOLATION ").Append(v);
        }

        // A process not scheduled for longer than the coarse clock's guard can serve a hit past its bound by up to the lag
        // (docs/guarantees.md): say whether that happened, so a violation can be told from a stalled machine.
        var stalls = Coherent.Local.CacheClock.Stalls;
        s.AppendLine().Append(CultureInfo.InvariantCulture, $"  clock stalls in this process so far (coarse clock > {Coherent.Local.CacheClock.CoarseGuardMs} ms behind): {stalls.Count}, longest {stalls.LongestMs} ms");
        return s.ToString();
    }
}

/// <summary>
/// Judges every read of a history against the writes. A read of version v of key k, running over [start, end], is stale
/// when a later version of k was committed and the writer's cache call for it returned before the read started; its
/// staleness is end − that return time (the earliest such). It must not exceed the family's MaxStaleness (+ tolerance
/// for scheduling on a loaded machine). A read stale only with respect to versions whose cache call failed (and is
/// retried) is the documented unbounded case: measured from the commit, it must stay within the family's Ttl.
/// A stale read is attributed to the fault whose window (extended by <c>graceMs</c>, the recovery) overlaps its
/// staleness window, else to <see cref="FaultKind.None"/>.
/// </summary>
public static class HistoryChecker
{
    /// <summary>The only errors a reader may see: the injected factory failure and the hard timeout of the slow factory.</summary>
    private static readonly HashSet<string> ExpectedReadErrors = new(StringComparer.Ordinal) { nameof(InvalidOperationException), nameof(FactoryTimeoutException) };

    public static CheckReport Check(History history, IReadOnlyDictionary<string, FamilyBound> bounds, double toleranceMs, double graceMs)
    {
        var faults = history.Faults.OrderBy(f => f.StartMs).ToList();
        var writesByKey = history.Writes.GroupBy(w => w.Key).ToDictionary(g => g.Key, g => KeyHistory.From(g));
        var figures = new Dictionary<FaultKind, (int Stale, double Worst, double WorstUnbounded)>();
        foreach (var kind in Enum.GetValues<FaultKind>())
        {
            figures[kind] = (0, 0, 0);
        }

        var byFamily = new Dictionary<string, (int Stale, double WorstMs)>(StringComparer.Ordinal);
        var errors = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var violations = new List<string>();
        var violationCount = 0;
        var violationsBy = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int checkedReads = 0, stale = 0, unbounded = 0;
        foreach (var read in history.Reads)
        {
            if (read.Error is { } error)
            {
                errors[error] = errors.GetValueOrDefault(error) + 1;
                if (!ExpectedReadErrors.Contains(error))
                {
                    // Readers never cancel, and a shared-tier fault must never reach a caller as a Redis exception.
                    Violate($"node {read.Node} read {read.Key} threw {error}: only the injected factory failures may reach a reader", "error/" + read.Family);
                }

                continue;
            }

            checkedReads++;
            writesByKey.TryGetValue(read.Key, out var keyHistory);
            if (read.Version < 1 || read.Version > (keyHistory?.MaxVersion ?? 1))
            {
                Violate($"node {read.Node} read {read.Key} = v{read.Version}, a version never committed (latest v{keyHistory?.MaxVersion ?? 1})", "phantom/" + read.Family);
                continue;
            }

            if (keyHistory is null)
            {
                continue;
            }

            var bound = bounds[read.Family];
            var (told, commitOfFailed) = keyHistory.After(read.Version);
            if (told < read.StartMs)
            {
                var staleness = read.EndMs - told;
                stale++;
                var kind = Attribute(faults, told, read.EndMs, graceMs);
                var f = figures[kind];
                figures[kind] = (f.Stale + 1, Math.Max(f.Worst, staleness), f.WorstUnbounded);
                var fam = byFamily.GetValueOrDefault(read.Family);
                byFamily[read.Family] = (fam.Stale + 1, Math.Max(fam.WorstMs, staleness));
                if (staleness > bound.MaxStalenessMs + toleranceMs)
                {
                    Violate($"node {read.Node} read {read.Key} = v{read.Version} {staleness:F1} ms after v{read.Version + 1}+ was told to the cache (MaxStaleness {bound.MaxStalenessMs} ms, fault {kind}, read {read.StartMs:F0}-{read.EndMs:F0} ms)", $"{kind}/{read.Family}");
                }
            }
            else if (commitOfFailed < read.StartMs)
            {
                var staleness = read.EndMs - commitOfFailed;
                unbounded++;
                var kind = Attribute(faults, commitOfFailed, read.EndMs, graceMs);
                var f = figures[kind];
                figures[kind] = (f.Stale, f.Worst, Math.Max(f.WorstUnbounded, staleness));
                if (staleness > bound.TtlMs + toleranceMs)
                {
                    Violate($"node {read.Node} read {read.Key} = v{read.Version} {staleness:F1} ms after a newer version whose invalidation failed was committed (Ttl {bound.TtlMs} ms)", $"{kind}/{read.Family} (Ttl)");
                }
            }
        }

        foreach (var write in history.Writes)
        {
            if (write.Error is { } error && error != nameof(InvalidationFailedException))
            {
                Violate($"node {write.Node} write of {write.Key} threw {error}: a failed write must surface as {nameof(InvalidationFailedException)} with its retry queued", "error/" + write.Family);
            }
        }

        var injected = faults.GroupBy(f => f.Kind).ToDictionary(g => g.Key, g => g.Count());
        return new CheckReport
        {
            ReadsChecked = checkedReads,
            Writes = history.Writes.Count,
            FailedWrites = history.Writes.Count(w => w.Failed),
            FaultsInjected = faults.Count,
            StaleReads = stale,
            UnboundedCaseReads = unbounded,
            ErrorsByType = errors,
            ByFault = figures.Where(f => f.Key == FaultKind.None || injected.ContainsKey(f.Key))
                .Select(f => new FaultFigure(f.Key, injected.GetValueOrDefault(f.Key), f.Value.Stale, f.Value.Worst, f.Value.WorstUnbounded)).ToList(),
            ByFamily = byFamily,
            Violations = violations,
            ViolationCount = violationCount,
            ViolationsByFaultAndFamily = violationsBy,
        };

        void Violate(string message, string where)
        {
            violationCount++;
            violationsBy[where] = violationsBy.GetValueOrDefault(where) + 1;
            if (violations.Count < 20)
            {
                violations.Add(message);
            }
        }
    }

    private static FaultKind Attribute(List<FaultRecord> faults, double from, double to, double graceMs)
    {
        var best = FaultKind.None;
        var bestOverlap = -1.0;
        foreach (var f in faults)
        {
            var overlap = Math.Min(to, f.EndMs + graceMs) - Math.Max(from, f.StartMs);
            if (overlap >= 0 && overlap > bestOverlap)
            {
                best = f.Kind;
                bestOverlap = overlap;
            }
        }

        return best;
    }

    /// <summary>One key's writes by version, with suffix minima of the told time (successful) and commit time (failed).</summary>
    private sealed class KeyHistory
    {
        private long[] _versions = [];
        private double[] _minTold = [];
        private double[] _minFailedCommit = [];

        public long MaxVersion { get; private set; } = 1;

        public static KeyHistory From(IEnumerable<WriteRecord> writes)
        {
            var sorted = writes.OrderBy(w => w.Version).ToArray();
            var h = new KeyHistory
            {
                _versions = sorted.Select(w => w.Version).ToArray(),
                _minTold = new double[sorted.Length],
                _minFailedCommit = new double[sorted.Length],
                MaxVersion = Math.Max(1, sorted.Length == 0 ? 1 : sorted[^1].Version),
            };
            double told = double.PositiveInfinity, failed = double.PositiveInfinity;
            for (var i = sorted.Length - 1; i >= 0; i--)
            {
                if (sorted[i].Failed)
                {
                    failed = Math.Min(failed, sorted[i].CommitMs);
                }
                else
                {
                    told = Math.Min(told, sorted[i].ToldMs);
                }

                h._minTold[i] = told;
                h._minFailedCommit[i] = failed;
            }

            return h;
        }

        /// <summary>Earliest told time and earliest failed-commit time among versions after <paramref name="version"/>.</summary>
        public (double Told, double FailedCommit) After(long version)
        {
            var i = Array.BinarySearch(_versions, version + 1);
            if (i < 0)
            {
                i = ~i;
            }

            return i >= _versions.Length ? (double.PositiveInfinity, double.PositiveInfinity) : (_minTold[i], _minFailedCommit[i]);
        }
    }
}
