namespace Coherent.Tests;

/// <summary>A per-call fail-safe default: what a call returns when its factory fails and nothing stale can be served.</summary>
public sealed class FailSafeDefaultTests
{
    private static CoherentCache Build(Microsoft.Extensions.Time.Testing.FakeTimeProvider time, [System.Runtime.CompilerServices.CallerMemberName] string name = "") =>
        T.Builder(time, name)
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(10)).Jitter(0).NoEarlyRefresh().FailSafe(TimeSpan.FromMinutes(1)))
            .Define("plain", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(10)).Jitter(0).NoEarlyRefresh())
            .Build();

    private static ValueTask<int> Failing(CancellationToken _) => throw new InvalidOperationException("source down");

    [Fact]
    public async Task A_key_never_cached_returns_the_default_when_its_factory_fails_and_caches_nothing()
    {
        var time = T.Clock();
        await using var cache = Build(time);
        Assert.Equal(-1, await cache.GetOrSetAsync("plain:1", Failing, new FailSafeDefault<int>(-1), cancellationToken: T.Ct));
        Assert.False((await cache.TryGetAsync<int>("plain:1", T.Ct)).Found);
        Assert.Equal(7, await cache.GetOrSetAsync("plain:1", _ => ValueTask.FromResult(7), new FailSafeDefault<int>(-1), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_stale_value_within_fail_safe_wins_over_the_default()
    {
        var time = T.Clock();
        await using var cache = Build(time);
        await cache.SetAsync("price:1", 5, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(5, await cache.GetOrSetAsync("price:1", Failing, new FailSafeDefault<int>(-1), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_caller_that_joined_a_failing_factory_gets_its_own_default()
    {
        var time = T.Clock();
        await using var cache = Build(time);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fail = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<int> Leader(CancellationToken _)
        {
            started.SetResult();
            await fail.Task;
            throw new InvalidOperationException("source down");
        }

        var leader = cache.GetOrSetAsync("plain:2", Leader, new FailSafeDefault<int>(-1), cancellationToken: T.Ct).AsTask();
        await started.Task;
        var joiner = cache.GetOrSetAsync("plain:2", Failing, new FailSafeDefault<int>(-2), cancellationToken: T.Ct).AsTask();
        fail.SetResult();
        Assert.Equal(-1, await leader);
        Assert.Equal(-2, await joiner);
    }

    [Fact]
    public async Task Bad_input_an_undeclared_family_and_a_callers_cancellation_still_throw()
    {
        var time = T.Clock();
        await using var cache = T.Builder(time).Strict().Define("plain", p => p.MaxStaleness(TimeSpan.FromSeconds(5))).Build();
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await cache.GetOrSetAsync("", Failing, new FailSafeDefault<int>(-1), cancellationToken: T.Ct));
        await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await cache.GetOrSetAsync("other:1", Failing, new FailSafeDefault<int>(-1), cancellationToken: T.Ct));

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await cache.GetOrSetAsync("plain:3", ct => { ct.ThrowIfCancellationRequested(); return ValueTask.FromResult(1); }, new FailSafeDefault<int>(-1), cancellationToken: cancelled.Token));
    }
}
