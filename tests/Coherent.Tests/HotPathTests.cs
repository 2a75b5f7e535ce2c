namespace Coherent.Tests;

/// <summary>Tests that measure the process (allocations) and so must not run beside tests that attach metric listeners.</summary>
[CollectionDefinition(nameof(SerialCollection), DisableParallelization = true)]
public sealed class SerialCollection;

[Collection(nameof(SerialCollection))]
public sealed class HotPathTests
{
    private static readonly Func<int, CancellationToken, ValueTask<object>> StateFactory = static (_, _) => ValueTask.FromResult(new object());
    private static readonly Func<CancellationToken, ValueTask<object>> PlainFactory = static _ => ValueTask.FromResult(new object());

    private static long AllocatedByHits(CoherentCache cache, string key, int count)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < count; i++)
        {
            var hit = cache.GetOrSetAsync(key, i, StateFactory);
            var plain = cache.GetOrSetAsync(key, PlainFactory);
            if (!hit.IsCompletedSuccessfully || !plain.IsCompletedSuccessfully)
            {
                return -1;
            }
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public async Task An_L1_hit_allocates_nothing_per_call_and_completes_synchronously()
    {
        // The real clock (its coarse ticker is part of the hit path); a 10-minute TTL keeps the entry fresh.
        await using var cache = new CoherentCacheBuilder()
            .WithName($"hot-{Guid.NewGuid():N}")
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)))
            .Build();
        await cache.GetOrSetAsync("price:1", PlainFactory, cancellationToken: T.Ct);

        AllocatedByHits(cache, "price:1", 10_000); // warm up (tiering, sampling counters)

        // 20,000 hits (two per iteration). A hit, recorded or not, allocates nothing (the L1 records into its own sketch); any
        // per-hit object (a closure, a boxed state, a Task) would be at least 24 B × 20,000.
        var allocated = AllocatedByHits(cache, "price:1", 10_000);
        // The bound is 1 B per hit on average, slack for the runtime's own one-off allocations on this thread (none is
        // expected), while one object per hit would be 480,000 B, so the test still fails for any per-hit allocation.
        Assert.InRange(allocated, 0, 20_000);
    }
}
