using System.Collections.Concurrent;

namespace Coherent.Tests;

public sealed class SoakTests
{
    /// <summary>
    /// Many threads, random get/set/invalidate/tag-invalidate on a few keys for a bounded time, then integrity checks:
    /// every value read was one written or computed for that key; no read that began after an invalidation completed
    /// returned a value whose computation began before that invalidation; and after the last write (no invalidation
    /// since) every read returns it.
    /// </summary>
    [Fact]
    public async Task Random_concurrent_operations_keep_values_consistent()
    {
        await using var cache = new CoherentCacheBuilder()
            .WithName($"soak-{Guid.NewGuid():N}")
            .Define("k", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(1)).Jitter(0.5).EarlyRefresh(1))
            .WithLocalCapacity(6)
            .Build();

        const int keys = 8;
        // Value → number of invalidations of its key that had started when its computation began (long.MaxValue for writes).
        var produced = new ConcurrentDictionary<string, long>[keys];
        var invalidationsStarted = new long[keys];
        var invalidationsCompleted = new long[keys];
        for (var i = 0; i < keys; i++)
        {
            produced[i] = new ConcurrentDictionary<string, long>();
        }

        var serial = 0L;
        var violations = new ConcurrentQueue<string>();
        var reads = 0L;
        var startGate = T.Gate();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var tags = new CacheEntryOptions { Tags = ["even"] };

        async Task Worker(int seed)
        {
            var random = new Random(seed);
            await startGate.Task;
            while (!stop.IsCancellationRequested)
            {
                var k = random.Next(keys);
                var key = $"k:{k}";
                var options = k % 2 == 0 ? tags : null;
                switch (random.Next(100))
                {
                    case < 70:
                        var completedBefore = Volatile.Read(ref invalidationsCompleted[k]);
                        var value = await cache.GetOrSetAsync(key, async ct =>
                        {
                            var startedAt = Volatile.Read(ref invalidationsStarted[k]);
                            var v = $"{key}#c{Interlocked.Increment(ref serial)}";
                            produced[k][v] = startedAt;
                            if (Random.Shared.Next(4) == 0)
                            {
                                await Task.Yield();
                            }

                            return v;
                        }, options);
                        Interlocked.Increment(ref reads);
                        if (!produced[k].TryGetValue(value, out var computedAfter))
                        {
                            violations.Enqueue($"{key} read {value}, never produced for it");
                        }
                        else if (computedAfter < completedBefore)
                        {
                            violations.Enqueue($"{key} read {value}, computed before invalidation #{completedBefore} that completed before the read began");
                        }

                        break;
                    case < 85:
                        var written = $"{key}#s{Interlocked.Increment(ref serial)}";
                        produced[k][written] = long.MaxValue;
                        await cache.SetAsync(key, written, options);
                        break;
                    case < 97:
                        Interlocked.Increment(ref invalidationsStarted[k]);
                        await cache.InvalidateAsync(key);
                        Interlocked.Increment(ref invalidationsCompleted[k]);
                        break;
                    default:
                        for (var e = 0; e < keys; e += 2)
                        {
                            Interlocked.Increment(ref invalidationsStarted[e]);
                        }

                        await cache.InvalidateTagAsync("even");
                        for (var e = 0; e < keys; e += 2)
                        {
                            Interlocked.Increment(ref invalidationsCompleted[e]);
                        }

                        break;
                }
            }
        }

        var workers = Enumerable.Range(0, 8).Select(i => Task.Run(() => Worker(i), T.Ct)).ToArray();
        startGate.SetResult();
        await T.Soon(Task.WhenAll(workers), 15_000);

        Assert.True(violations.IsEmpty, string.Join(Environment.NewLine, violations.Take(10)));
        Assert.True(reads > 1_000, $"only {reads} reads");

        // Quiesce: let background refreshes finish, then a final write per key must be what every read sees.
        await T.Until(() => cache.Diagnostics.FlightCount == 0, "background flights finished");
        for (var k = 0; k < keys; k++)
        {
            var last = $"k:{k}#final";
            await cache.SetAsync($"k:{k}", last, cancellationToken: T.Ct);
            var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => cache.GetOrSetAsync($"k:{k}", _ => T.Value("recomputed"), cancellationToken: T.Ct).AsTask(), T.Ct)));
            Assert.All(results, r => Assert.True(r == last || r == "recomputed", $"k:{k} read {r} after final write"));

            // Evicted or expired at worst recomputed; if still resident it must be the final write, never an older value.
            var lookup = await cache.TryGetAsync<string>($"k:{k}", T.Ct);
            Assert.True(!lookup.Found || lookup.Value == last || lookup.Value == "recomputed", $"k:{k} holds {lookup.Value}");
        }
    }

    [Fact]
    public async Task After_the_last_write_reads_return_it_under_concurrency()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromMinutes(10)).Build();
        var gate = T.Gate();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            await gate.Task;
            for (var i = 0; i < 500; i++)
            {
                await cache.SetAsync($"price:{i % 5}", $"w{w}-{i}");
                await cache.GetOrSetAsync($"price:{i % 5}", _ => T.Value("computed"));
            }
        }, T.Ct)).ToArray();
        gate.SetResult();
        await T.Soon(Task.WhenAll(writers), 15_000);

        for (var k = 0; k < 5; k++)
        {
            await cache.SetAsync($"price:{k}", $"last-{k}", cancellationToken: T.Ct);
        }

        var reads = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(() => cache.GetOrSetAsync($"price:{i % 5}", _ => T.Value("computed"), cancellationToken: T.Ct).AsTask(), T.Ct)));
        for (var i = 0; i < reads.Length; i++)
        {
            Assert.Equal($"last-{i % 5}", reads[i]);
        }
    }
}
