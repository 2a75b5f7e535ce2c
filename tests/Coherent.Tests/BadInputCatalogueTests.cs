namespace Coherent.Tests;

/// <summary>
/// The bad-input catalogue of issue 5 (docs/guarantees.md), core-level cases not already covered by OperationTests,
/// PolicyTests, BadInputTests and SingleFlightTests: for each, a typed error or a documented safe outcome, and no cached
/// entry lost or corrupted.
/// </summary>
public sealed class BadInputCatalogueTests
{
    private sealed class Node
    {
        public Node? Next { get; set; }
    }

    private static CoherentCacheBuilder Real([System.Runtime.CompilerServices.CallerMemberName] string name = "") =>
        new CoherentCacheBuilder().WithName($"{name}-{Guid.NewGuid():N}")
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(1)).Jitter(0).NoEarlyRefresh());

    [Fact]
    public async Task Separators_in_odd_places_name_the_family_before_the_first_colon_and_never_collide()
    {
        await using var cache = T.Price(T.Clock()).Build();
        string[] keys = ["price:", "price::1", "price:1:", "price:1", "price:a:b", ":price", "::", "nocolon", "price:{1}", "price:}{", "price: 1", "price:1 ", "Price:1"];
        for (var i = 0; i < keys.Length; i++)
        {
            await cache.SetAsync(keys[i], i, cancellationToken: T.Ct);
        }

        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(i, await cache.GetOrSetAsync(keys[i], _ => T.Value(-1), cancellationToken: T.Ct));
        }

        // The family is what precedes the first ':' (case-sensitive); no colon, or nothing before it, is "no family".
        Assert.Equal("price", cache.Families.Resolve("price::1").Name);
        Assert.Equal("price", cache.Families.Resolve("price:a:b").Name);
        Assert.Equal("(none)", cache.Families.Resolve(":price").Name);
        Assert.Equal("(none)", cache.Families.Resolve("nocolon").Name);
        Assert.Equal("Price", cache.Families.Resolve("Price:1").Name);

        await using var strict = T.Price(T.Clock()).Strict().Build();
        Assert.Equal(1, await strict.GetOrSetAsync("price:", _ => T.Value(1), cancellationToken: T.Ct));
        Assert.Equal("", (await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await strict.GetOrSetAsync(":price", _ => T.Value(1), cancellationToken: T.Ct))).Family);
        Assert.Equal("Price", (await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await strict.SetAsync("Price:1", 1, cancellationToken: T.Ct))).Family);
        Assert.Equal(1, strict.LocalCount);
    }

    [Fact]
    public async Task Unicode_keys_work_and_unpaired_surrogates_are_refused()
    {
        await using var cache = T.Price(T.Clock()).Build();
        string[] fine = ["price:café", "price:cafe\u0301", "price:😀", "price:\u200Bx", "price:\u202Ex", "price:日本"];
        for (var i = 0; i < fine.Length; i++)
        {
            await cache.SetAsync(fine[i], i, cancellationToken: T.Ct);
        }

        for (var i = 0; i < fine.Length; i++)
        {
            Assert.Equal(i, await cache.GetOrSetAsync(fine[i], _ => T.Value(-1), cancellationToken: T.Ct));
        }

        // "\uD800" and "\uDBFF" both encode to U+FFFD in UTF-8: in Redis two such keys would be one key (and one key hash),
        // so one key could be served the other's value. They are refused everywhere a key is stored.
        foreach (var bad in new[] { "price:\uD800", "price:x\uDBFF", "price:\uDC00x", "price:\uDC00\uD800" })
        {
            var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.GetOrSetAsync(bad, _ => T.Value(1), cancellationToken: T.Ct));
            Assert.Contains("surrogate", ex.Message, StringComparison.Ordinal);
            await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync(bad, 1, cancellationToken: T.Ct));
            await Assert.ThrowsAsync<ArgumentException>(async () => await cache.TryGetAsync<int>(bad, T.Ct));
        }

        // Invalidating such a key, or one with a control character, is refused the same way (it was a silent no-op, which
        // hid a caller's bug); so is a tag with either, given to an entry or to an invalidation. Nothing cached is touched.
        foreach (var bad in new[] { "price:\uD800", "price:1\n", "price:\u0000" })
        {
            await Assert.ThrowsAsync<ArgumentException>(async () => await cache.InvalidateAsync(bad, T.Ct));
        }

        foreach (var badTag in new[] { "grp\n", "\uD800", "a\u0007" })
        {
            var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.InvalidateTagAsync(badTag, T.Ct));
            Assert.StartsWith("Tag contains", ex.Message, StringComparison.Ordinal);
            await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("price:t", 1, new CacheEntryOptions { Tags = [badTag] }, T.Ct));
        }

        Assert.Equal(fine.Length, cache.LocalCount);
        for (var i = 0; i < fine.Length; i++)
        {
            Assert.Equal(i, await cache.GetOrSetAsync(fine[i], _ => T.Value(-1), cancellationToken: T.Ct));
        }
    }

    [Fact]
    public async Task A_factory_that_never_completes_and_ignores_its_token_is_cut_by_the_hard_timeout_and_never_stores()
    {
        await using var cache = Real().Define("price", p => p.Timeouts(hard: TimeSpan.FromMilliseconds(100))).Build();
        var never = T.Gate<int>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<FactoryTimeoutException>(async () => await T.Soon(cache.GetOrSetAsync("price:1", _ => new ValueTask<int>(never.Task), cancellationToken: T.Ct).AsTask()));
        Assert.Equal(TimeSpan.FromMilliseconds(100), ex.Timeout);
        Assert.True(watch.ElapsedMilliseconds < 2000, $"took {watch.ElapsedMilliseconds} ms");
        await T.Until(() => cache.Diagnostics.FlightCount == 0, "flight left the table");

        // The hung factory finishing later stores nothing, and the key works again.
        never.SetResult(666);
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", _ => T.Value(2), cancellationToken: T.Ct));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", _ => T.Value(3), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_factory_that_never_completes_without_a_hard_timeout_does_not_block_the_key_once_its_callers_leave()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var never = T.Gate<int>();
        using var cts = new CancellationTokenSource();
        var stuck = cache.GetOrSetAsync("price:1", _ => new ValueTask<int>(never.Task), cancellationToken: cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => T.Soon(stuck));

        // A new caller does not join the abandoned run (it would wait forever): it runs its own factory.
        Assert.Equal(7, await T.Soon(cache.GetOrSetAsync("price:1", _ => T.Value(7), cancellationToken: T.Ct).AsTask()));

        // The abandoned factory finishing late does not overwrite the newer value.
        never.SetResult(666);
        await T.Until(() => cache.Diagnostics.FlightCount == 0, "abandoned flight left the table");
        Assert.Equal(7, await cache.GetOrSetAsync("price:1", _ => T.Value(8), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Disposal_while_calls_are_in_flight_returns_at_once_and_nothing_is_stored_afterwards()
    {
        var cache = Real().Build();
        await cache.SetAsync("price:kept", 1, cancellationToken: T.Ct);
        var started = T.Gate();
        var release = T.Gate();
        var callers = Enumerable.Range(0, 10).Select(_ => cache.GetOrSetAsync("price:1", async _ =>
        {
            started.TrySetResult();
            await release.Task;
            return 42;
        }, cancellationToken: T.Ct).AsTask()).ToList();
        await T.Soon(started.Task);

        await T.Soon(cache.DisposeAsync().AsTask(), 2000); // does not wait for the user's factory
        release.SetResult();
        foreach (var caller in callers)
        {
            // Each caller gets the value its factory computed, or ObjectDisposedException: nothing else.
            try
            {
                Assert.Equal(42, await T.Soon(caller));
            }
            catch (ObjectDisposedException)
            {
            }
        }

        Assert.Equal(0, cache.LocalCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.GetOrSetAsync("price:kept", _ => T.Value(2), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Concurrent_Build_on_one_builder_makes_independent_caches_and_concurrent_disposal_is_safe()
    {
        var builder = Real();
        var caches = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(builder.Build, T.Ct)));
        Assert.Equal(8, caches.Distinct().Count());
        await caches[0].SetAsync("price:1", 1, cancellationToken: T.Ct);
        Assert.All(caches.Skip(1), c => Assert.Equal(0, c.LocalCount));

        // Every cache disposed from several threads at once, twice: no exception, each disposed once.
        await Task.WhenAll(caches.SelectMany(c => Enumerable.Range(0, 3).Select(_ => Task.Run(async () => await c.DisposeAsync(), T.Ct))));
        Assert.All(caches, c => Assert.Throws<ObjectDisposedException>(() => c.TryGetAsync<int>("price:1", T.Ct).AsTask().GetAwaiter().GetResult()));
    }

    [Fact]
    public async Task Use_racing_disposal_only_ever_fails_with_ObjectDisposed()
    {
        for (var round = 0; round < 20; round++)
        {
            var cache = Real().Build();
            var unexpected = new System.Collections.Concurrent.ConcurrentBag<Exception>();
            using var go = new ManualResetEventSlim();
            var users = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                go.Wait(T.Ct);
                for (var i = 0; i < 2000; i++)
                {
                    var key = "price:" + ((i * 7) + w) % 50;
                    try
                    {
                        switch (i % 4)
                        {
                            case 0: await cache.GetOrSetAsync(key, _ => T.Value(i), cancellationToken: T.Ct); break;
                            case 1: await cache.SetAsync(key, i, cancellationToken: T.Ct); break;
                            case 2: await cache.InvalidateAsync(key, T.Ct); break;
                            default: await cache.TryGetAsync<int>(key, T.Ct); break;
                        }
                    }
                    catch (ObjectDisposedException)
                    {
                    }
                    catch (Exception ex)
                    {
                        unexpected.Add(ex);
                    }
                }
            }, T.Ct)).ToArray();
            go.Set();
            await Task.Delay(round % 3, T.Ct);
            await cache.DisposeAsync();
            await T.Soon(Task.WhenAll(users), 20_000);
            Assert.True(unexpected.IsEmpty, string.Join(Environment.NewLine, unexpected.Select(e => e.ToString())));
        }
    }

    [Fact]
    public async Task An_already_cancelled_token_leaves_every_entry_intact()
    {
        await using var cache = T.Price(T.Clock()).Build();
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cache.SetAsync("price:1", 2, cancellationToken: cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cache.GetOrSetAsync("price:2", _ => T.Value(2), cancellationToken: cancelled.Token));
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", _ => T.Value(3), cancellationToken: cancelled.Token)); // a hit is served, as documented
        Assert.False((await cache.TryGetAsync<int>("price:2", T.Ct)).Found);
        Assert.Equal(1, (await cache.TryGetAsync<int>("price:1", T.Ct)).Value);
    }

    [Fact]
    public async Task Values_the_serializer_cannot_handle_throw_typed_and_cache_nothing()
    {
        await using var cache = T.Price(T.Clock()).Define("copy", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).CopyOnRead()).Build();
        var cyclic = new Node();
        cyclic.Next = cyclic;
        await cache.SetAsync("copy:ok", new Node(), cancellationToken: T.Ct);

        var set = await Assert.ThrowsAsync<CacheSerializationException>(async () => await cache.SetAsync("copy:ok", cyclic, cancellationToken: T.Ct));
        Assert.Contains("copy:ok", set.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<CacheSerializationException>(async () => await cache.GetOrSetAsync("copy:cycle", _ => T.Value(cyclic), cancellationToken: T.Ct));
        await Assert.ThrowsAsync<CacheSerializationException>(async () => await cache.GetOrSetAsync<Action>("copy:delegate", _ => T.Value<Action>(() => { }), cancellationToken: T.Ct));

        Assert.NotNull((await cache.TryGetAsync<Node>("copy:ok", T.Ct)).Value);
        Assert.False((await cache.TryGetAsync<Node>("copy:cycle", T.Ct)).Found);
        Assert.Equal(0, cache.Diagnostics.FlightCount);

        // Without copy-on-read (and without a shared tier) values are never serialized: the same objects are fine.
        Assert.Same(cyclic, await cache.GetOrSetAsync("price:cycle", _ => T.Value(cyclic), cancellationToken: T.Ct));
    }
}
