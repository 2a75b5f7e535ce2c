using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>
/// HybridCache's documented and observed behaviour, run against Microsoft's implementation (the control, which must pass)
/// and Coherent's adapter: code written against HybridCache must not notice the switch.
/// </summary>
public sealed partial class HybridCacheConformanceTests
{
    public const string Microsoft = "Microsoft";
    public const string Coherent = "Coherent";

    public static TheoryData<string> Implementations => [Microsoft, Coherent];

    /// <summary>Keys HybridCache logs and does not cache (observed on Microsoft's implementation, whitespace-only included).</summary>
    public static TheoryData<string, string> UncacheableKeys
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var impl in new[] { Microsoft, Coherent })
            {
                data.Add(impl, "empty");
                data.Add(impl, "whitespace");
                data.Add(impl, "tab");
                data.Add(impl, "control");
                data.Add(impl, "over-long");
            }

            return data;
        }
    }

    private static string KeyFor(string kind) => kind switch
    {
        "empty" => "",
        "whitespace" => "   ",
        "tab" => "a\tb",
        "control" => "a\u0001b",
        "over-long" => new string('k', 1025), // HybridCacheOptions.MaximumKeyLength defaults to 1024
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static ServiceProvider Create(string impl, FakeLoggerProvider? logs = null, Action<HybridCacheOptions>? options = null,
        FakeTimeProvider? time = null, Action<IServiceCollection>? services = null, Action<IHybridCacheBuilder>? hybrid = null)
    {
        var collection = new ServiceCollection();
        if (logs is not null)
        {
            collection.AddLogging(b => b.AddProvider(logs));
        }

        if (time is not null)
        {
            // One clock for both: Coherent takes the container's TimeProvider, HybridCache's local tier is a MemoryCache.
            collection.AddSingleton<TimeProvider>(time);
            collection.AddMemoryCache(o => o.Clock = new FakeSystemClock(time));
        }

        services?.Invoke(collection);

        // Both start from Microsoft's registration, as a user switching by one line does.
        var hybridBuilder = options is null ? collection.AddHybridCache() : collection.AddHybridCache(options);
        hybrid?.Invoke(hybridBuilder);

        if (impl == Coherent)
        {
            collection.AddCoherentHybridCache(b => b.WithName($"conformance-{Guid.NewGuid():N}"));
        }

        return collection.BuildServiceProvider();
    }

#pragma warning disable CS0618 // MemoryCache still takes its clock as an ISystemClock
    private sealed class FakeSystemClock(FakeTimeProvider time) : Microsoft.Extensions.Internal.ISystemClock
    {
        public DateTimeOffset UtcNow => time.GetUtcNow();
    }
#pragma warning restore CS0618

    [Theory]
    [MemberData(nameof(UncacheableKeys))]
    public async Task An_uncacheable_key_runs_the_factory_every_time_and_stores_nothing_without_throwing(string impl, string kind)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var key = KeyFor(kind);
        var runs = 0;
        ValueTask<int> Load(CancellationToken _) => ValueTask.FromResult(++runs);

        Assert.Equal(1, await hybrid.GetOrCreateAsync(key, Load, cancellationToken: T.Ct));
        Assert.Equal(2, await hybrid.GetOrCreateAsync(key, Load, cancellationToken: T.Ct));

        await hybrid.SetAsync(key, 100, cancellationToken: T.Ct);
        Assert.Equal(3, await hybrid.GetOrCreateAsync(key, Load, cancellationToken: T.Ct));

        await hybrid.RemoveAsync(key, T.Ct);
        Assert.Equal(4, await hybrid.GetOrCreateAsync(key, Load, cancellationToken: T.Ct));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_key_at_the_default_maximum_length_is_cached_and_one_over_it_is_not(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        ValueTask<int> Load(CancellationToken _) => ValueTask.FromResult(++runs);

        var atLimit = new string('a', 1024);
        Assert.Equal(1, await hybrid.GetOrCreateAsync(atLimit, Load, cancellationToken: T.Ct));
        Assert.Equal(1, await hybrid.GetOrCreateAsync(atLimit, Load, cancellationToken: T.Ct));

        var overLimit = new string('b', 1025);
        Assert.Equal(2, await hybrid.GetOrCreateAsync(overLimit, Load, cancellationToken: T.Ct));
        Assert.Equal(3, await hybrid.GetOrCreateAsync(overLimit, Load, cancellationToken: T.Ct));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task An_uncacheable_key_is_logged_as_a_warning(string impl)
    {
        using var logs = new FakeLoggerProvider();
        await using var provider = Create(impl, logs: logs);
        var hybrid = provider.GetRequiredService<HybridCache>();

        Assert.Equal(1, await hybrid.GetOrCreateAsync("", _ => ValueTask.FromResult(1), cancellationToken: T.Ct));

        var warnings = logs.Collector.GetSnapshot().Where(r => r.Level >= LogLevel.Warning).ToList();
        Assert.NotEmpty(warnings);
        if (impl == Coherent)
        {
            Assert.Contains(warnings, r => r.Id.Id == 1010); // Coherent's stable id: alerting rules may match on it
        }
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task Reserved_and_empty_entry_tags_throw_ArgumentException(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();

        foreach (var tag in new[] { "*", "", "  " })
        {
            var get = await Assert.ThrowsAnyAsync<ArgumentException>(
                async () => await hybrid.GetOrCreateAsync("tagged", _ => ValueTask.FromResult(1), tags: ["ok", tag], cancellationToken: T.Ct));
            Assert.Equal("tags", get.ParamName);

            var set = await Assert.ThrowsAnyAsync<ArgumentException>(
                async () => await hybrid.SetAsync("tagged", 1, tags: [tag], cancellationToken: T.Ct));
            Assert.Equal("tags", set.ParamName);
        }

        // Removing by an empty tag is not an error: no entry can carry one.
        await hybrid.RemoveByTagAsync("", T.Ct);
    }

    // ThrowsAsync matches the exact type: HybridCache throws OperationCanceledException itself, not TaskCanceledException.
    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_caller_cancelled_before_the_call_gets_OperationCanceledException_with_its_token(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<OperationCanceledException>(
            async () => await hybrid.GetOrCreateAsync("cancelled", ct => ValueTask.FromResult(1), cancellationToken: cts.Token));
        Assert.Equal(cts.Token, ex.CancellationToken);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_caller_cancelled_while_its_factory_runs_gets_OperationCanceledException_with_its_token(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        using var cts = new CancellationTokenSource();
        var started = T.Gate();

        var call = hybrid.GetOrCreateAsync("slow", async ct =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return 1;
        }, cancellationToken: cts.Token).AsTask();
        await T.Soon(started.Task);
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<OperationCanceledException>(() => T.Soon(call));
        Assert.Equal(cts.Token, ex.CancellationToken);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_caller_cancelled_while_a_factory_ignores_the_token_stops_waiting_with_its_token(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        using var cts = new CancellationTokenSource();
        var started = T.Gate();
        var release = T.Gate();

        var call = hybrid.GetOrCreateAsync("stubborn", async _ =>
        {
            started.TrySetResult();
            await release.Task;
            return 1;
        }, cancellationToken: cts.Token).AsTask();
        await T.Soon(started.Task);
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<OperationCanceledException>(() => T.Soon(call));
        Assert.Equal(cts.Token, ex.CancellationToken);
        release.SetResult();
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_caller_joining_another_callers_factory_and_cancelled_gets_OperationCanceledException_with_its_token(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var started = T.Gate();
        var release = T.Gate();
        ValueTask<int> Load(CancellationToken _) => new(Slow());
        async Task<int> Slow()
        {
            started.TrySetResult();
            await release.Task;
            return 1;
        }

        var first = hybrid.GetOrCreateAsync("shared", Load, cancellationToken: T.Ct).AsTask();
        await T.Soon(started.Task);
        using var cts = new CancellationTokenSource();
        var joiner = hybrid.GetOrCreateAsync("shared", Load, cancellationToken: cts.Token).AsTask();
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<OperationCanceledException>(() => T.Soon(joiner));
        Assert.Equal(cts.Token, ex.CancellationToken);

        // The first caller is not cancelled with it.
        release.SetResult();
        Assert.Equal(1, await T.Soon(first));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_null_key_runs_the_factory_uncached_and_only_RemoveAsync_throws(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        ValueTask<int> Load(CancellationToken _) => ValueTask.FromResult(++runs);

        Assert.Equal(1, await hybrid.GetOrCreateAsync(null!, Load, cancellationToken: T.Ct));
        await hybrid.SetAsync(null!, 100, cancellationToken: T.Ct);
        Assert.Equal(2, await hybrid.GetOrCreateAsync(null!, Load, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await hybrid.RemoveAsync((string)null!, T.Ct));
    }
}
