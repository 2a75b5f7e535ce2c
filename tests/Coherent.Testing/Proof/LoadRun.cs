using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using StackExchange.Redis;

namespace Coherent.Testing;

/// <summary>A log-linear latency histogram (≤ 1/16 relative error), one per worker, no allocation per sample.</summary>
public sealed class LatencyHistogram
{
    private readonly long[] _counts = new long[1024];

    public long Count { get; private set; }

    public void Record(long elapsedTicks)
    {
        var ns = (long)(elapsedTicks * (1_000_000_000.0 / Stopwatch.Frequency));
        _counts[Index(Math.Max(0, ns))]++;
        Count++;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
    }

    /// <summary>The p-th percentile in microseconds (upper edge of its bucket).</summary>
    public double PercentileUs(double p)
    {
        if (Count == 0)
        {
            return double.NaN;
        }

        var rank = (long)Math.Ceiling(p / 100 * Count);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank && _counts[i] > 0)
            {
                return Lower(i + 1) / 1000.0;
            }
        }

        return double.NaN;
    }

    private static int Index(long v)
    {
        if (v < 32)
        {
            return (int)v;
        }

        var e = 63 - BitOperations.LeadingZeroCount((ulong)v);
        return 32 + ((e - 5) * 16) + (int)((v >> (e - 4)) & 15);
    }

    private static long Lower(int index)
    {
        if (index < 32)
        {
            return index;
        }

        var e = ((index - 32) / 16) + 5;
        return (16L + ((index - 32) % 16)) << (e - 4);
    }
}

public sealed class LoadRunOptions
{
    public int Nodes { get; set; } = 3;
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(10);
    public int Keys { get; set; } = 20_000;
    public double ReadFraction { get; set; } = 0.9;
    public int WorkersPerNode { get; set; } = 2;
    public string KeyPrefix { get; set; } = "load-" + Guid.NewGuid().ToString("N")[..8];
    public Action<string>? Progress { get; set; }
}

/// <summary>Figures of a load run.</summary>
public sealed record LoadResult(long Reads, long Writes, long Errors, double Seconds, LatencyHistogram ReadLatency, LatencyHistogram WriteLatency,
    double AllocatedBytesPerOp, long FactoryRuns, long HeapAtStartBytes, long HeapAtEndBytes)
{
    public double OpsPerSecond => (Reads + Writes) / Seconds;

    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"{Reads + Writes} operations in {Seconds:F1} s ({OpsPerSecond:F0}/s, {100.0 * Reads / Math.Max(1, Reads + Writes):F0} % reads), {Errors} errors; read p50 {ReadLatency.PercentileUs(50):F1} µs, p99 {ReadLatency.PercentileUs(99):F1} µs, p99.9 {ReadLatency.PercentileUs(99.9):F1} µs; write p50 {WriteLatency.PercentileUs(50):F1} µs, p99 {WriteLatency.PercentileUs(99):F1} µs; {AllocatedBytesPerOp:F0} B allocated per operation (whole process); factory runs {FactoryRuns}; heap {HeapAtStartBytes / 1048576.0:F1} → {HeapAtEndBytes / 1048576.0:F1} MiB");
}

/// <summary>A point of a memory trace: distinct keys so far and the live heap after a full collection.</summary>
public sealed record MemoryPoint(long DistinctKeys, long HeapBytes);

/// <summary>
/// Load: N nodes on one Redis, a mixed workload (90 % GetOrSetAsync over a skewed key set, 10 % writes spread evenly, split between
/// InvalidateAsync and SetAsync), for a bounded time; latency percentiles per operation and allocation per operation.
/// And the memory probe: millions of distinct keys through one cache, the heap measured after full collections.
/// </summary>
public static class LoadRun
{
    public static async Task<LoadResult> RunAsync(LoadRunOptions o, string endpoint, CancellationToken cancellationToken)
    {
        var muxes = new List<ConnectionMultiplexer>();
        var caches = new List<CoherentCache>();
        try
        {
            for (var n = 0; n < o.Nodes; n++)
            {
                var mux = await ConnectionMultiplexer.ConnectAsync(RedisAdmin.Options(endpoint));
                muxes.Add(mux);
                caches.Add(new CoherentCacheBuilder().WithName($"load-{n}")
                    .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)))
                    .WithLocalCapacity(o.Keys)
                    .WithRedis(mux, r => r.KeyPrefix = o.KeyPrefix)
                    .Build());
            }

            var keys = Enumerable.Range(0, o.Keys).Select(i => "item:" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
            long factoryRuns = 0;

            // Warm-up: JIT, connections, L2 filled for part of the keys.
            await RunWorkersAsync(o, caches, keys, TimeSpan.FromSeconds(Math.Min(2, o.Duration.TotalSeconds / 4)), () => Interlocked.Increment(ref factoryRuns), cancellationToken);
            var heapStart = FullCollect();
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            Interlocked.Exchange(ref factoryRuns, 0);
            var watch = Stopwatch.StartNew();
            var (reads, writes, errors, readLatency, writeLatency) = await RunWorkersAsync(o, caches, keys, o.Duration, () => Interlocked.Increment(ref factoryRuns), cancellationToken);
            var seconds = watch.Elapsed.TotalSeconds;
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            var heapEnd = FullCollect();
            return new LoadResult(reads, writes, errors, seconds, readLatency, writeLatency, (double)allocated / Math.Max(1, reads + writes), Interlocked.Read(ref factoryRuns), heapStart, heapEnd);
        }
        finally
        {
            foreach (var cache in caches)
            {
                await cache.DisposeAsync();
            }

            foreach (var mux in muxes)
            {
                await mux.DisposeAsync();
            }
        }
    }

    private static async Task<(long Reads, long Writes, long Errors, LatencyHistogram Read, LatencyHistogram Write)> RunWorkersAsync(
        LoadRunOptions o, List<CoherentCache> caches, string[] keys, TimeSpan duration, Func<long> onFactory, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = caches.SelectMany((cache, n) => Enumerable.Range(0, o.WorkersPerNode).Select(w => Task.Run(async () =>
        {
            var random = new Random((n * 97) + w);
            var read = new LatencyHistogram();
            var write = new LatencyHistogram();
            long errors = 0;
            var i = 0;
            while (!cancellationToken.IsCancellationRequested && (++i % 64 != 0 || Stopwatch.GetTimestamp() < deadline))
            {
                // Skewed: a quarter of the keys get most reads (squared uniform draw).
                var isRead = random.NextDouble() < o.ReadFraction;
                var u = random.NextDouble();
                var key = keys[(int)((isRead ? u * u : u) * keys.Length)]; // writes spread evenly
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    if (isRead)
                    {
                        await cache.GetOrSetAsync(key, onFactory, static (f, _) => ValueTask.FromResult(f()), cancellationToken: cancellationToken);
                    }
                    else if ((i & 1) == 0)
                    {
                        await cache.InvalidateAsync(key, cancellationToken);
                    }
                    else
                    {
                        await cache.SetAsync(key, (long)i, cancellationToken: cancellationToken);
                    }
                }
                catch (Exception ex) when (ex is CoherentException or TimeoutException)
                {
                    errors++;
                }

                (isRead ? read : write).Record(Stopwatch.GetTimestamp() - t0);
            }

            return (read, write, errors);
        }, cancellationToken))).ToArray();
        var results = await Task.WhenAll(workers);
        var reads = new LatencyHistogram();
        var writes = new LatencyHistogram();
        foreach (var r in results)
        {
            reads.Add(r.read);
            writes.Add(r.write);
        }

        return (reads.Count, writes.Count, results.Sum(r => r.errors), reads, writes);
    }

    /// <summary>
    /// Pushes <paramref name="distinctKeys"/> never-repeated keys through <paramref name="cache"/> (misses: single-flight,
    /// factory, L1 store and eviction; every 16th key tagged from a fixed set of tags; every 8th invalidated), with
    /// <paramref name="parallelism"/> callers, and traces the live heap after full collections.
    /// </summary>
    public static async Task<IReadOnlyList<MemoryPoint>> DistinctKeysAsync(ICoherentCache cache, string family, long distinctKeys, int parallelism, int checkpoints, CancellationToken cancellationToken)
    {
        var tags = Enumerable.Range(0, 64).Select(t => new CacheEntryOptions { Tags = ["t" + t.ToString(CultureInfo.InvariantCulture)] }).ToArray();
        var points = new List<MemoryPoint> { new(0, FullCollect()) };
        var perCheckpoint = distinctKeys / checkpoints;
        long next = 0;
        for (var c = 1; c <= checkpoints; c++)
        {
            var end = perCheckpoint * c;
            var workers = Enumerable.Range(0, parallelism).Select(_ => Task.Run(async () =>
            {
                long k;
                while ((k = Interlocked.Increment(ref next)) <= end)
                {
                    var key = string.Concat(family, ":", k.ToString(CultureInfo.InvariantCulture));
                    var options = k % 16 == 0 ? tags[k / 16 % tags.Length] : null;
                    await cache.GetOrSetAsync(key, k, static (v, _) => ValueTask.FromResult(v), options, cancellationToken);
                    if (k % 8 == 0)
                    {
                        await cache.InvalidateAsync(key, cancellationToken);
                    }
                }
            }, cancellationToken)).ToArray();
            await Task.WhenAll(workers);
            Interlocked.Exchange(ref next, end);
            points.Add(new MemoryPoint(end, FullCollect()));
        }

        return points;
    }

    public static long FullCollect()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
