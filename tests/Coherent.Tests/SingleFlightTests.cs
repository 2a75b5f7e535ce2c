namespace Coherent.Tests;

public sealed class SingleFlightTests
{
    [Fact]
    public async Task Concurrent_callers_of_a_cold_key_share_one_factory_run()
    {
        await using var cache = T.Price(T.Clock()).Build();
        using var metrics = new Metrics(cache.Name);
        var runs = 0;
        var started = T.Gate();
        var release = T.Gate();
        async ValueTask<object> Factory(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            started.TrySetResult();
            await release.Task;
            return new object();
        }

        var callers = new List<Task<object>>();
        for (var i = 0; i < 50; i++)
        {
            callers.Add(Task.Run(() => cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct).AsTask(), T.Ct));
        }

        await T.Soon(started.Task);
        await T.Until(() => metrics.Counter("coherent.single_flight.joins", "price") == 49, "all callers joined");
        Assert.All(callers, c => Assert.False(c.IsCompleted));
        release.SetResult();
        var results = await T.Soon(Task.WhenAll(callers));
        Assert.Equal(1, runs);
        Assert.All(results, r => Assert.Same(results[0], r));
        Assert.Same(results[0], await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task One_callers_cancellation_cancels_only_that_caller()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var started = T.Gate();
        var release = T.Gate();
        var factoryToken = CancellationToken.None;
        async ValueTask<int> Factory(CancellationToken ct)
        {
            factoryToken = ct;
            started.TrySetResult();
            await release.Task;
            return 42;
        }

        using var ctsA = new CancellationTokenSource();
        var a = cache.GetOrSetAsync("price:1", Factory, cancellationToken: ctsA.Token).AsTask();
        await T.Soon(started.Task);
        var b = cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct).AsTask();

        await ctsA.CancelAsync();
        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => T.Soon(a));
        Assert.Equal(ctsA.Token, ex.CancellationToken);
        Assert.False(b.IsCompleted);
        Assert.False(factoryToken.IsCancellationRequested);

        release.SetResult();
        Assert.Equal(42, await T.Soon(b));
        Assert.Equal(42, await cache.GetOrSetAsync("price:1", _ => T.Value(0), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task The_factory_is_cancelled_only_when_every_waiter_cancelled()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var started = T.Gate();
        var factoryCancelled = T.Gate();
        async ValueTask<int> Factory(CancellationToken ct)
        {
            using var reg = ct.Register(() => factoryCancelled.TrySetResult());
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return 1;
        }

        using var c1 = new CancellationTokenSource();
        using var c2 = new CancellationTokenSource();
        using var c3 = new CancellationTokenSource();
        var t1 = cache.GetOrSetAsync("price:1", Factory, cancellationToken: c1.Token).AsTask();
        await T.Soon(started.Task);
        var t2 = cache.GetOrSetAsync("price:1", Factory, cancellationToken: c2.Token).AsTask();
        var t3 = cache.GetOrSetAsync("price:1", Factory, cancellationToken: c3.Token).AsTask();

        await c2.CancelAsync();
        await c1.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t1);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t2);
        Assert.False(factoryCancelled.Task.IsCompleted);
        Assert.False(t3.IsCompleted);

        await c3.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t3);
        await T.Soon(factoryCancelled.Task);

        // Nothing cached, and the next caller runs a new flight.
        await T.Until(() => cache.Diagnostics.FlightCount == 0, "flight left the table");
        Assert.Equal(5, await cache.GetOrSetAsync("price:1", _ => T.Value(5), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_caller_arriving_while_an_abandoned_factory_winds_down_is_not_cancelled()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var started = T.Gate();
        var sawCancel = T.Gate();
        var finishCancel = T.Gate();
        var runs = 0;
        async ValueTask<int> Slow(CancellationToken ct)
        {
            Interlocked.Increment(ref runs);
            started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                sawCancel.TrySetResult();
                await finishCancel.Task; // e.g. a database call that takes a while to abort
                throw;
            }

            return 1;
        }

        using var cts = new CancellationTokenSource();
        var abandoned = cache.GetOrSetAsync("price:1", Slow, cancellationToken: cts.Token).AsTask();
        await T.Soon(started.Task);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        await T.Soon(sawCancel.Task);

        // The old flight is cancelled but still running; a new caller with a live token must get a value.
        var fresh = cache.GetOrSetAsync("price:1", _ => { Interlocked.Increment(ref runs); return T.Value(2); }, cancellationToken: T.Ct).AsTask();
        finishCancel.SetResult();
        Assert.Equal(2, await T.Soon(fresh));
        Assert.Equal(2, runs);
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", _ => T.Value(3), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_factory_exception_reaches_every_joined_caller_and_is_not_cached()
    {
        await using var cache = T.Price(T.Clock()).Build();
        using var metrics = new Metrics(cache.Name);
        var started = T.Gate();
        var release = T.Gate();
        var runs = 0;
        async ValueTask<int> Failing(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            started.TrySetResult();
            await release.Task;
            throw new InvalidOperationException("source down");
        }

        var callers = new List<Task<int>> { cache.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct).AsTask() };
        await T.Soon(started.Task);
        for (var i = 0; i < 5; i++)
        {
            callers.Add(cache.GetOrSetAsync("price:1", Failing, cancellationToken: T.Ct).AsTask());
        }

        release.SetResult();
        foreach (var c in callers)
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => T.Soon(c));
            Assert.Equal("source down", ex.Message);
        }

        Assert.Equal(1, runs);
        Assert.Equal(1, metrics.Counter("coherent.factory.failures", "price"));
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
        Assert.Equal(7, await cache.GetOrSetAsync("price:1", _ => { runs++; return T.Value(7); }, cancellationToken: T.Ct));
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task A_factory_that_throws_synchronously_fails_the_same_way()
    {
        await using var cache = T.Price(T.Clock()).Build();
        await Assert.ThrowsAsync<FormatException>(async () => await cache.GetOrSetAsync<int>("price:1", _ => throw new FormatException(), cancellationToken: T.Ct));
        Assert.Equal(0, cache.Diagnostics.FlightCount);
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task An_already_cancelled_token_throws_without_running_the_factory()
    {
        await using var cache = T.Price(T.Clock()).Build();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var runs = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cache.GetOrSetAsync("price:1", _ => T.Value(++runs), cancellationToken: cts.Token));
        Assert.Equal(0, runs);
    }
}
