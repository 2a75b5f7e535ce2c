
namespace Coherent.Redis.Tests.Proof;

/// <summary>The checker itself: it must flag what it is there to flag, or the history proofs prove nothing.</summary>
public sealed class CheckerTests
{
    private static readonly Dictionary<string, FamilyBound> Bounds = new() { ["acct"] = new FamilyBound(1000, 8000) };

    private static CheckReport Check(History h) => HistoryChecker.Check(h, Bounds, toleranceMs: 0, graceMs: 500);

    [Fact]
    public void A_read_of_the_old_version_past_MaxStaleness_after_the_invalidation_returned_is_a_violation()
    {
        var h = new History();
        h.Write(new WriteRecord(0, "acct:1", "acct", 2, WriteKind.Invalidate, CommitMs: 100, ToldMs: 110, Failed: false, null));
        h.Read(new ReadRecord(1, "acct:1", "acct", 1, StartMs: 105, EndMs: 106, null));   // concurrent with the write: not stale
        h.Read(new ReadRecord(1, "acct:1", "acct", 1, StartMs: 500, EndMs: 501, null));   // 391 ms stale: within the bound
        h.Read(new ReadRecord(2, "acct:1", "acct", 1, StartMs: 1200, EndMs: 1201, null)); // 1091 ms stale: over
        h.Read(new ReadRecord(2, "acct:1", "acct", 2, StartMs: 1300, EndMs: 1301, null));

        var report = Check(h);

        Assert.Equal(4, report.ReadsChecked);
        Assert.Equal(2, report.StaleReads);
        Assert.Equal(1, report.ViolationCount);
        Assert.Equal(1091, report.WorstStaleMs, 3);
        Assert.Contains("acct:1", report.Violations[0], StringComparison.Ordinal);
    }

    [Fact]
    public void A_failed_invalidation_is_the_ttl_bounded_case_and_a_later_successful_one_restores_the_bound()
    {
        var h = new History();
        h.Write(new WriteRecord(0, "acct:1", "acct", 2, WriteKind.Invalidate, CommitMs: 100, ToldMs: double.PositiveInfinity, Failed: true, "InvalidationFailedException"));
        h.Read(new ReadRecord(1, "acct:1", "acct", 1, StartMs: 3000, EndMs: 3001, null));  // 2.9 s: allowed (Ttl 8 s)
        h.Read(new ReadRecord(1, "acct:1", "acct", 1, StartMs: 9000, EndMs: 9001, null));  // 8.9 s: past Ttl
        h.Write(new WriteRecord(0, "acct:1", "acct", 3, WriteKind.Invalidate, CommitMs: 9100, ToldMs: 9110, Failed: false, null));
        h.Read(new ReadRecord(1, "acct:1", "acct", 2, StartMs: 10500, EndMs: 10501, null)); // 1391 ms after v3 was told

        var report = Check(h);

        Assert.Equal(2, report.UnboundedCaseReads);
        Assert.Equal(1, report.StaleReads);
        Assert.Equal(2, report.ViolationCount);
        Assert.Equal(1, report.FailedWrites);
    }

    [Fact]
    public void A_version_that_was_never_committed_is_a_violation_and_errors_are_counted_not_judged()
    {
        var h = new History();
        h.Read(new ReadRecord(0, "acct:9", "acct", 5, 10, 11, null));
        h.Read(new ReadRecord(0, "acct:9", "acct", -1, 10, 11, "FactoryTimeoutException"));
        h.Fault(new FaultRecord(FaultKind.ServerPaused, "server", 0, 100));

        var report = Check(h);

        Assert.Equal(1, report.ViolationCount);
        Assert.Equal(1, report.ErrorsByType["FactoryTimeoutException"]);
        Assert.Equal(1, report.ByFault.Single(f => f.Kind == FaultKind.ServerPaused).Injected);
    }

    [Fact]
    public void Stale_reads_are_attributed_to_the_fault_that_overlaps_them()
    {
        var h = new History();
        h.Fault(new FaultRecord(FaultKind.PubSubKilled, "server", 1000, 1000));
        h.Write(new WriteRecord(0, "acct:1", "acct", 2, WriteKind.Invalidate, 1001, 1002, false, null));
        h.Read(new ReadRecord(1, "acct:1", "acct", 1, 1100, 1300, null));
        h.Write(new WriteRecord(0, "acct:2", "acct", 2, WriteKind.Invalidate, 5001, 5002, false, null));
        h.Read(new ReadRecord(1, "acct:2", "acct", 1, 5003, 5004, null));

        var report = Check(h);

        Assert.Equal(298, report.ByFault.Single(f => f.Kind == FaultKind.PubSubKilled).WorstStaleMs, 3);
        Assert.Equal(2, report.ByFault.Single(f => f.Kind == FaultKind.None).WorstStaleMs, 3);
    }

    [Fact]
    public void A_raw_redis_exception_or_a_cancellation_reaching_a_caller_is_a_violation_and_the_injected_errors_are_not()
    {
        var h = new History();
        h.Write(new WriteRecord(0, "acct:1", "acct", 2, WriteKind.Invalidate, CommitMs: 100, ToldMs: double.PositiveInfinity, Failed: true, "RedisConnectionException"));
        h.Write(new WriteRecord(0, "acct:1", "acct", 3, WriteKind.Invalidate, CommitMs: 200, ToldMs: double.PositiveInfinity, Failed: true, nameof(InvalidationFailedException)));
        h.Read(new ReadRecord(1, "acct:1", "acct", -1, StartMs: 300, EndMs: 301, nameof(InvalidOperationException)));
        h.Read(new ReadRecord(1, "acct:1", "acct", -1, StartMs: 300, EndMs: 301, nameof(FactoryTimeoutException)));
        h.Read(new ReadRecord(1, "acct:1", "acct", -1, StartMs: 300, EndMs: 301, nameof(OperationCanceledException)));
        h.Read(new ReadRecord(1, "acct:1", "acct", -1, StartMs: 300, EndMs: 301, "RedisTimeoutException"));

        var report = Check(h);

        Assert.Equal(3, report.ViolationCount);
        Assert.Contains(report.Violations, v => v.Contains("RedisConnectionException", StringComparison.Ordinal));
        Assert.Contains(report.Violations, v => v.Contains(nameof(OperationCanceledException), StringComparison.Ordinal));
        Assert.Contains(report.Violations, v => v.Contains("RedisTimeoutException", StringComparison.Ordinal));
    }
}
