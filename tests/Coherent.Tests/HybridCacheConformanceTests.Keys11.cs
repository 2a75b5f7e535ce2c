#if NET10_0_OR_GREATER
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.Tests;

/// <summary>HybridCache 11.0 (net10.0): keys as spans and interpolated strings, and the factory's entry context.</summary>
public sealed partial class HybridCacheConformanceTests
{
    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_span_key_and_an_interpolated_key_find_the_entry_stored_under_the_same_string(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        Assert.Equal(1, await hybrid.GetOrCreateAsync("product:42", _ => ValueTask.FromResult(++runs), cancellationToken: T.Ct));

        var buffer = "xxproduct:42yy".ToCharArray();
        Assert.Equal(1, await hybrid.GetOrCreateAsync(buffer.AsSpan(2, 10), _ => ValueTask.FromResult(++runs), cancellationToken: T.Ct));
        var id = 42;
        Assert.Equal(1, await hybrid.GetOrCreateAsync($"product:{id}", _ => ValueTask.FromResult(++runs), cancellationToken: T.Ct));
        Assert.Equal(1, runs);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_span_key_that_misses_runs_the_factory_once_and_stores_under_the_string(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        Assert.Equal(1, await hybrid.GetOrCreateAsync("order:7".AsSpan(), _ => ValueTask.FromResult(++runs), cancellationToken: T.Ct));
        Assert.Equal(1, await hybrid.GetOrCreateAsync("order:7", _ => ValueTask.FromResult(++runs), cancellationToken: T.Ct));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_factory_that_shortens_the_expiration_in_its_context_shortens_the_entry(string impl)
    {
        var time = T.Clock();
        await using var provider = Create(impl, time: time);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        ValueTask<int> Factory(HybridCacheEntryContext context, CancellationToken _)
        {
            context.Expiration = TimeSpan.FromMinutes(1);
            context.LocalCacheExpiration = TimeSpan.FromMinutes(1);
            return ValueTask.FromResult(++runs);
        }

        Assert.Equal(1, await hybrid.GetOrCreateAsync("short", Factory, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal(1, await hybrid.GetOrCreateAsync("short", Factory, cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(2, await hybrid.GetOrCreateAsync("short", Factory, cancellationToken: T.Ct));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_factory_that_disables_the_local_write_in_its_context_leaves_nothing_cached_locally(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        ValueTask<int> Factory(HybridCacheEntryContext context, CancellationToken _)
        {
            context.Flags = HybridCacheEntryFlags.DisableLocalCacheWrite;
            return ValueTask.FromResult(++runs);
        }

        Assert.Equal(1, await hybrid.GetOrCreateAsync("uncached", Factory, cancellationToken: T.Ct));
        Assert.Equal(2, await hybrid.GetOrCreateAsync("uncached", Factory, cancellationToken: T.Ct));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task The_context_starts_from_the_calls_options(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        HybridCacheEntryContext? seen = null;
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(7), LocalCacheExpiration = TimeSpan.FromMinutes(3) };
        await hybrid.GetOrCreateAsync("ctx", (context, _) => { seen = context; return ValueTask.FromResult(1); }, options, cancellationToken: T.Ct);
        Assert.NotNull(seen);
        Assert.Equal(TimeSpan.FromMinutes(7), seen.Expiration);
        Assert.Equal(TimeSpan.FromMinutes(3), seen.LocalCacheExpiration);
    }

    [Fact]
    public async Task A_span_keys_L1_hit_through_the_adapter_makes_no_string_and_allocates_nothing_per_call()
    {
        await using var provider = Create(Coherent);
        var hybrid = provider.GetRequiredService<HybridCache>();
        await hybrid.GetOrCreateAsync("product:7", 7, static (s, _) => ValueTask.FromResult(s), cancellationToken: T.Ct);
        var buffer = "product:7".ToCharArray();
        // 10,000 hits: a string made per hit would be 40 B × 10,000 in every measurement; the slack (1 B a hit) is for the
        // runtime's one-off allocations on this thread, as in HotPathTests. The least of three measurements is judged: one
        // CI run on a loaded machine saw 33 B a hit once (332,424 B), which a per-hit string would show in all three.
        AllocatedBySpanHits(hybrid, buffer, 10_000);
        var least = Enumerable.Range(0, 3).Min(_ => AllocatedBySpanHits(hybrid, buffer, 10_000));
        Assert.InRange(least, 0, 10_000);
    }

    /// <summary>Bytes allocated by <paramref name="count"/> hits on a span key (-1 if one did not complete at once with the value).</summary>
    private static long AllocatedBySpanHits(HybridCache hybrid, char[] key, int count)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < count; i++)
        {
            var hit = hybrid.GetOrCreateAsync(key.AsSpan(), 0, static (s, _) => ValueTask.FromResult(s), cancellationToken: T.Ct);
            if (!hit.IsCompletedSuccessfully)
            {
                return -1;
            }
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public async Task A_fill_through_the_context_overload_that_began_before_a_remove_is_not_kept()
    {
        // Coherent's own contract, stricter than HybridCache's: a value computed before an invalidation never enters a tier
        // after it. HybridCache's default for this overload stores the result with SetAsync, an unfenced write.
        await using var provider = Create(Coherent);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var computing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<string> Old(HybridCacheEntryContext context, CancellationToken _)
        {
            computing.SetResult();
            await release.Task;
            return "old";
        }

        var fill = hybrid.GetOrCreateAsync("fenced", Old, cancellationToken: T.Ct).AsTask();
        await computing.Task;
        await hybrid.RemoveAsync("fenced", T.Ct);
        release.SetResult();
        Assert.Equal("old", await fill);

        Assert.Equal("new", await hybrid.GetOrCreateAsync("fenced", (_, _) => ValueTask.FromResult("new"), cancellationToken: T.Ct));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task Callers_of_the_context_overload_on_a_cold_key_share_one_factory_run(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<int> Factory(HybridCacheEntryContext context, CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            await release.Task;
            return 5;
        }

        var callers = Enumerable.Range(0, 10).Select(_ => hybrid.GetOrCreateAsync("herd", Factory, cancellationToken: T.Ct).AsTask()).ToArray();
        await Task.Yield();
        release.SetResult();
        Assert.All(await Task.WhenAll(callers), v => Assert.Equal(5, v));
        Assert.Equal(1, runs);
    }
}
#endif
