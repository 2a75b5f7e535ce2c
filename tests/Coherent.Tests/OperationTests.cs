namespace Coherent.Tests;

public sealed class OperationTests
{
    private sealed record Product(int Id, string Name);

    [Fact]
    public async Task GetOrSet_runs_the_factory_on_a_miss_and_serves_the_same_object_on_hits()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var runs = 0;
        var first = await cache.GetOrSetAsync("price:1", _ => { runs++; return T.Value(new Product(1, "a")); }, cancellationToken: T.Ct);
        var second = await cache.GetOrSetAsync("price:1", _ => { runs++; return T.Value(new Product(1, "b")); }, cancellationToken: T.Ct);
        Assert.Equal(1, runs);
        Assert.Same(first, second);
        Assert.Equal(1, cache.LocalCount);
    }

    [Fact]
    public async Task GetOrSet_with_state_passes_the_state_to_a_static_factory()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var v = await cache.GetOrSetAsync("price:9", (Mult: 7, Add: 2), static (s, _) => ValueTask.FromResult((s.Mult * 9) + s.Add), cancellationToken: T.Ct);
        Assert.Equal(65, v);
        var again = await cache.GetOrSetAsync("price:9", (Mult: 0, Add: 0), static (s, _) => ValueTask.FromResult(s.Add), cancellationToken: T.Ct);
        Assert.Equal(65, again);
    }

    [Fact]
    public async Task TryGet_finds_only_fresh_values_and_never_computes()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10)).Build();
        Assert.Equal(new CacheLookup<int>(false, 0), await cache.TryGetAsync<int>("price:1", T.Ct));
        await cache.SetAsync("price:1", 5, cancellationToken: T.Ct);
        Assert.Equal(new CacheLookup<int>(true, 5), await cache.TryGetAsync<int>("price:1", T.Ct));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
    }

    [Fact]
    public async Task Set_overwrites_and_Invalidate_removes()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => T.Value(100 + ++runs);

        Assert.Equal(101, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        await cache.SetAsync("price:1", 7, cancellationToken: T.Ct);
        Assert.Equal(7, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        await cache.InvalidateAsync("price:1", T.Ct);
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
        Assert.Equal(102, await cache.GetOrSetAsync("price:1", Factory, cancellationToken: T.Ct));
        await cache.InvalidateAsync("price:never-set", T.Ct); // no entry: no error
    }

    [Fact]
    public async Task Tag_invalidation_drops_exactly_the_tagged_entries()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var red = new CacheEntryOptions { Tags = ["red"] };
        var redBlue = new CacheEntryOptions { Tags = ["red", "blue"] };
        await cache.SetAsync("price:1", 1, red, T.Ct);
        await cache.GetOrSetAsync("price:2", _ => T.Value(2), redBlue, T.Ct);
        await cache.SetAsync("price:3", 3, new CacheEntryOptions { Tags = ["blue"] }, T.Ct);
        await cache.SetAsync("price:4", 4, cancellationToken: T.Ct);

        await cache.InvalidateTagAsync("red", T.Ct);
        Assert.False((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
        Assert.False((await cache.TryGetAsync<int>("price:2", T.Ct)).Found);
        Assert.True((await cache.TryGetAsync<int>("price:3", T.Ct)).Found);
        Assert.True((await cache.TryGetAsync<int>("price:4", T.Ct)).Found);
        Assert.Equal(20, await cache.GetOrSetAsync("price:2", _ => T.Value(20), redBlue, T.Ct));

        // Re-stored after the invalidation: valid again until the next one.
        await cache.SetAsync("price:1", 10, red, T.Ct);
        Assert.Equal(new CacheLookup<int>(true, 10), await cache.TryGetAsync<int>("price:1", T.Ct));
        await cache.InvalidateTagAsync("blue", T.Ct);
        Assert.False((await cache.TryGetAsync<int>("price:2", T.Ct)).Found);
        Assert.False((await cache.TryGetAsync<int>("price:3", T.Ct)).Found);
        Assert.True((await cache.TryGetAsync<int>("price:1", T.Ct)).Found);
    }

    [Fact]
    public async Task Clear_drops_everything()
    {
        await using var cache = T.Price(T.Clock()).Build();
        for (var i = 0; i < 10; i++)
        {
            await cache.SetAsync($"price:{i}", i, cancellationToken: T.Ct);
        }

        await cache.ClearAsync(T.Ct);
        for (var i = 0; i < 10; i++)
        {
            Assert.False((await cache.TryGetAsync<int>($"price:{i}", T.Ct)).Found);
        }

        await cache.SetAsync("price:1", 11, cancellationToken: T.Ct);
        Assert.Equal(11, await cache.GetOrSetAsync("price:1", _ => T.Value(0), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Entry_ttl_option_shortens_but_never_lengthens_the_family_ttl()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromSeconds(10)).Build();
        await cache.SetAsync("price:short", 1, new CacheEntryOptions { Ttl = TimeSpan.FromSeconds(2) }, T.Ct);
        await cache.SetAsync("price:long", 1, new CacheEntryOptions { Ttl = TimeSpan.FromHours(2) }, T.Ct);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False((await cache.TryGetAsync<int>("price:short", T.Ct)).Found);
        Assert.True((await cache.TryGetAsync<int>("price:long", T.Ct)).Found);
        time.Advance(TimeSpan.FromSeconds(8));
        Assert.False((await cache.TryGetAsync<int>("price:long", T.Ct)).Found);
    }

    [Fact]
    public async Task A_factory_returning_null_returns_null_and_caches_it()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var runs = 0;
        Assert.Null(await cache.GetOrSetAsync<string?>("price:none", _ => { runs++; return T.Value<string?>(null); }, cancellationToken: T.Ct));
        Assert.Null(await cache.GetOrSetAsync<string?>("price:none", _ => { runs++; return T.Value<string?>("x"); }, cancellationToken: T.Ct));
        Assert.Null(await cache.GetOrSetAsync<int?>("price:none-int", _ => T.Value<int?>(null), cancellationToken: T.Ct));
        Assert.Equal(1, runs);
        var lookup = await cache.TryGetAsync<string>("price:none", T.Ct);
        Assert.True(lookup.Found);
        Assert.Null(lookup.Value);
    }

    [Fact]
    public async Task Reading_a_key_as_another_type_throws_InvalidCast_naming_the_key()
    {
        await using var cache = T.Price(T.Clock()).Build();
        await cache.SetAsync("price:1", "text", cancellationToken: T.Ct);
        var ex = await Assert.ThrowsAsync<InvalidCastException>(async () => await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct));
        Assert.Contains("price:1", ex.Message, StringComparison.Ordinal);
        Assert.Equal("text", await cache.GetOrSetAsync("price:1", _ => T.Value("other"), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Keys_are_validated_with_the_reason()
    {
        await using var cache = T.Price(T.Clock()).WithMaxKeyLength(20).Build();
        static ValueTask<int> F(CancellationToken _) => T.Value(1);

        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.GetOrSetAsync(null!, F, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.TryGetAsync<int>(null!, T.Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.SetAsync(null!, 1, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.InvalidateAsync(null!, T.Ct));

        var empty = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.GetOrSetAsync("", F, cancellationToken: T.Ct));
        Assert.Contains("empty", empty.Message, StringComparison.Ordinal);
        Assert.Equal("key", empty.ParamName);

        var longKey = "price:" + new string('x', 15);
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.GetOrSetAsync(longKey, F, cancellationToken: T.Ct));
        Assert.Contains("21 characters, over the limit of 20", tooLong.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync(longKey, 1, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.TryGetAsync<int>(longKey, T.Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.InvalidateAsync(longKey, T.Ct));
        Assert.Equal(1, await cache.GetOrSetAsync("price:" + new string('x', 14), F, cancellationToken: T.Ct)); // exactly at the limit

        var control = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.GetOrSetAsync("price:1\n", F, cancellationToken: T.Ct));
        Assert.Contains("control character U+000A", control.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("price:\u0000", 1, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.TryGetAsync<int>("price:\t", T.Ct));
        Assert.Equal(1, cache.LocalCount); // only the key at the limit

        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.InvalidateTagAsync(null!, T.Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.InvalidateTagAsync("", T.Ct));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.GetOrSetAsync<int>("price:1", (Func<CancellationToken, ValueTask<int>>)null!, cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Invalid_entry_tags_are_refused_and_do_not_poison_the_key()
    {
        await using var cache = T.Price(T.Clock()).Build();
        var nullTag = new CacheEntryOptions { Tags = [null!] };
        var emptyTag = new CacheEntryOptions { Tags = ["ok", ""] };

        // A null tag used to throw inside the flight before its try block: the flight never completed and every later
        // caller of the key joined it and hung.
        await Assert.ThrowsAnyAsync<ArgumentException>(() => T.Soon(cache.GetOrSetAsync("price:1", _ => T.Value(1), nullTag, T.Ct).AsTask()));
        Assert.Equal(2, await T.Soon(cache.GetOrSetAsync("price:1", _ => T.Value(2), cancellationToken: T.Ct).AsTask()));

        // An empty tag could be stored but never invalidated (InvalidateTagAsync refuses it).
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("price:2", 2, emptyTag, T.Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await cache.SetAsync("price:2", 2, nullTag, T.Ct));
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.GetOrSetAsync("price:3", _ => T.Value(3), emptyTag, T.Ct));
        Assert.Equal(0, cache.Diagnostics.FlightCount);
    }

    [Fact]
    public async Task After_disposal_every_operation_throws_ObjectDisposed()
    {
        var cache = T.Price(T.Clock()).Build();
        await cache.SetAsync("price:1", 1, cancellationToken: T.Ct);
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", _ => T.Value(2), cancellationToken: T.Ct));
        await cache.DisposeAsync();
        await cache.DisposeAsync(); // idempotent
        cache.Dispose();

        // Including a key that was resident: the hit path must not keep serving a disposed cache.
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.GetOrSetAsync("price:1", _ => T.Value(2), cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.GetOrSetAsync("price:2", _ => T.Value(2), cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.TryGetAsync<int>("price:1", T.Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.SetAsync("price:1", 3, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.InvalidateAsync("price:1", T.Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.InvalidateTagAsync("t", T.Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cache.ClearAsync(T.Ct));
    }
}

public sealed class SweepTests
{
    [Fact]
    public async Task The_sweep_drops_entries_voided_by_tags_or_clear()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, TimeSpan.FromHours(1)).Build();
        await cache.SetAsync("price:1", 1, new CacheEntryOptions { Tags = ["t"] }, T.Ct);
        await cache.SetAsync("price:2", 2, cancellationToken: T.Ct);
        await cache.InvalidateTagAsync("t", T.Ct);
        Assert.Equal(2, cache.LocalCount); // voided at once, dropped lazily
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, cache.LocalCount);
        Assert.True((await cache.TryGetAsync<int>("price:2", T.Ct)).Found);
    }
}
