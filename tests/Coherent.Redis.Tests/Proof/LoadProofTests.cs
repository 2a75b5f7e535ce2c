using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Load and memory: a sustained mixed workload (90 % reads) across three nodes, and millions of distinct keys through one
/// cache with the heap measured after full collections — per-key state (L1 entries, epochs), tag state and single-flight
/// bookkeeping must not grow with the number of keys ever seen.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class LoadProofTests(SharedRedis redis)
{
    private const long MiB = 1024 * 1024;

    [Fact]
    public async Task Mixed_load_across_three_nodes_runs_without_errors_and_reports_percentiles()
    {
        var server = redis.Require();
        var result = await LoadRun.RunAsync(new LoadRunOptions { Duration = TimeSpan.FromSeconds(6) }, server.Endpoint, TestContext.Current.CancellationToken);

        TestContext.Current.SendDiagnosticMessage("load: " + result.Summary());
        Assert.Equal(0, result.Errors);
        Assert.True(result.Reads > 10 * result.Writes / 2, $"reads {result.Reads}, writes {result.Writes}");
        Assert.True(result.Reads + result.Writes > 20_000, $"only {result.Reads + result.Writes} operations");
        Assert.True(result.ReadLatency.PercentileUs(50) < result.WriteLatency.PercentileUs(50), "reads should mostly be L1 hits, faster than writes");
        Assert.True(result.HeapAtEndBytes - result.HeapAtStartBytes < 32 * MiB, $"heap grew {(result.HeapAtEndBytes - result.HeapAtStartBytes) / MiB} MiB during the run");
    }

    [Fact]
    public async Task Memory_stays_flat_after_two_million_distinct_keys()
    {
        await using var cache = new CoherentCacheBuilder().WithName("memory-" + Guid.NewGuid().ToString("N"))
            .Define("m", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)))
            .WithLocalCapacity(10_000)
            .Build();
        var points = await LoadRun.DistinctKeysAsync(cache, "m", 2_000_000, parallelism: 4, checkpoints: 5, TestContext.Current.CancellationToken);

        TestContext.Current.SendDiagnosticMessage("heap by distinct keys: " + string.Join(", ", points.Select(p => $"{p.DistinctKeys:N0} → {p.HeapBytes / (double)MiB:F1} MiB")));
        Assert.Equal(0, cache.Diagnostics.FlightCount);
        Assert.True(cache.LocalCount <= 10_000 * 1.1, $"L1 holds {cache.LocalCount}");

        // From the first checkpoint (400k keys: L1 full, everything warmed) to the last (2M), the live heap is flat.
        var growth = points[^1].HeapBytes - points[1].HeapBytes;
        Assert.True(growth < 8 * MiB, $"heap grew {growth / (double)MiB:F1} MiB over 1.6M more distinct keys");
    }

    [Fact]
    public async Task Distinct_tags_no_entry_carries_any_more_are_dropped()
    {
        // 200,000 distinct tags over 1,000 keys: each overwrite drops the entry that carried the previous tag, so the tag
        // table must not keep them (it kept every tag ever used before: +29 MiB here, ~154 B per tag).
        await using var cache = new CoherentCacheBuilder().WithName("tags-" + Guid.NewGuid().ToString("N"))
            .Define("m", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)))
            .WithLocalCapacity(1_000)
            .Build();
        var ct = TestContext.Current.CancellationToken;
        var before = LoadRun.FullCollect();
        for (var i = 0; i < 200_000; i++)
        {
            await cache.SetAsync("m:" + (i % 1000), i, new CacheEntryOptions { Tags = ["tag-" + i] }, ct);
        }

        var after = LoadRun.FullCollect();
        var perTag = (after - before) / 200_000.0;
        TestContext.Current.SendDiagnosticMessage($"200,000 distinct tags: heap {before / (double)MiB:F1} → {after / (double)MiB:F1} MiB, {perTag:F1} B per tag; {cache.Tags.Count:N0} tag records left");
        Assert.True(after - before < 4 * MiB, $"heap grew {(after - before) / (double)MiB:F1} MiB");
        Assert.True(cache.Tags.Count <= 4 * 1_024 + 2_000, $"{cache.Tags.Count} tag records kept for 1,000 live entries");
    }

    [Fact]
    public async Task Memory_stays_flat_with_the_redis_tier_after_distinct_keys()
    {
        var server = redis.Require();
        await using var node = await Node.StartAsync(server.Endpoint, KeyPrefix.New("m"), build: b => b.WithLocalCapacity(5_000));
        var points = await LoadRun.DistinctKeysAsync(node.Cache, "item", 150_000, parallelism: 16, checkpoints: 3, TestContext.Current.CancellationToken);

        TestContext.Current.SendDiagnosticMessage("heap by distinct keys (Redis tier): " + string.Join(", ", points.Select(p => $"{p.DistinctKeys:N0} → {p.HeapBytes / (double)MiB:F1} MiB")));
        Assert.Equal(0, node.Cache.Diagnostics.FlightCount);
        Assert.Equal(0, node.Cache.PendingInvalidations);
        var growth = points[^1].HeapBytes - points[1].HeapBytes;
        Assert.True(growth < 8 * MiB, $"heap grew {growth / (double)MiB:F1} MiB over 100k more distinct keys");
    }
}
