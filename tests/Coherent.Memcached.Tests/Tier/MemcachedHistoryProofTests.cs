namespace Coherent.Memcached.Tests.Tier;

/// <summary>
/// The history checker against the Memcached tier: three nodes (each through its own TCP proxy) read and write the three
/// families of the proof over a SQLite source of truth while the schedule pauses, kills and restarts memcached empty,
/// partitions one node, makes a factory throw and stall, adds a node and steps the wall clock. Memcached has no bus, so the
/// bound checked is the family's MaxStaleness as it stands: L1 copies live at most that long. The write-through family
/// (<c>prod</c>) is versioned, as in the Redis proof.
/// </summary>
public sealed class MemcachedHistoryProofTests
{
    /// <summary>The standalone schedule without the faults of a bus (pub/sub killed, version messages dropped): nothing to break here.</summary>
    private static List<ScheduledFault> StorageSchedule(TimeSpan duration) =>
        HistoryRunOptions.StandaloneSchedule(duration).Where(f => f.Kind is not (FaultKind.PubSubKilled or FaultKind.VersionMessagesDropped)).ToList();

    [Fact]
    public async Task History_on_Memcached_under_faults_stays_within_MaxStaleness_and_loses_nothing()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var duration = TimeSpan.FromSeconds(20);
        var prefix = KeyPrefix.New("proof");
        var options = new HistoryRunOptions
        {
            Duration = duration,
            Faults = StorageSchedule(duration),
            SharedTier = (builder, endpoint) => builder.WithMemcached(endpoint, o =>
            {
                o.KeyPrefix = prefix;
                o.OperationTimeout = TimeSpan.FromMilliseconds(300);
                o.ConnectTimeout = TimeSpan.FromMilliseconds(300);
                o.ProbeInterval = TimeSpan.FromMilliseconds(200);
                o.RetryInterval = TimeSpan.FromMilliseconds(100);
                o.VersionedFamilies.Add("prod"); // as on Redis (ProofFleet): the write-through family is versioned
            }),
        };

        var result = await HistoryRun.RunAsync(options, server, null, TestContext.Current.CancellationToken);

        TestContext.Current.SendDiagnosticMessage($"memcached, fault schedule: {result.Summary()}");
        var check = result.Check;
        Assert.Equal(StorageSchedule(duration).Count, check.FaultsInjected);
        Assert.True(check.ReadsChecked > 2000, $"only {check.ReadsChecked} reads checked");
        Assert.True(check.Writes > 300, $"only {check.Writes} writes");
        Assert.True(check.ViolationCount == 0, check.Summary());
        Assert.True(result.Quiesced, "the fleet never quiesced (pending invalidations or a server still down after the faults)");
        Assert.True(result.Lost == 0, string.Join(Environment.NewLine, result.LostDetails));

        // The only read errors are the injected ones: no Memcached exception ever reached a caller.
        Assert.All(check.ErrorsByType.Keys, e => Assert.Contains(e, new[] { nameof(InvalidOperationException), nameof(FactoryTimeoutException) }));
    }
}
