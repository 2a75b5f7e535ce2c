namespace Coherent.Tests;

public sealed class BadInputTests
{
    private sealed class Basket
    {
        public List<string> Items { get; set; } = [];
    }

    private static CoherentCache Build(ICacheSerializer? serializer = null, long maxPayload = 1_000, [System.Runtime.CompilerServices.CallerMemberName] string name = "")
    {
        var b = T.Builder(T.Clock(), name)
            .Define("basket", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Jitter(0).CopyOnRead())
            .WithMaxPayloadBytes(maxPayload);
        if (serializer is not null)
        {
            b.WithSerializer(serializer);
        }

        return b.Build();
    }

    [Fact]
    public async Task Copy_on_read_returns_private_copies()
    {
        await using var cache = Build();
        var original = new Basket { Items = ["a"] };
        await cache.SetAsync("basket:1", original, cancellationToken: T.Ct);
        original.Items.Add("mutated after set");

        var first = await cache.GetOrSetAsync("basket:1", _ => T.Value(new Basket()), cancellationToken: T.Ct);
        first.Items.Add("mutated by reader");
        var second = await cache.GetOrSetAsync("basket:1", _ => T.Value(new Basket()), cancellationToken: T.Ct);
        Assert.NotSame(first, second);
        Assert.Equal(["a"], second.Items);

        var computed = await cache.GetOrSetAsync("basket:2", _ => T.Value(new Basket { Items = ["b"] }), cancellationToken: T.Ct);
        computed.Items.Clear();
        Assert.Equal(["b"], (await cache.TryGetAsync<Basket>("basket:2", T.Ct)).Value!.Items);
    }

    [Fact]
    public async Task Joined_callers_of_a_copy_on_read_family_each_get_their_own_copy()
    {
        await using var cache = Build();
        var release = T.Gate();
        var callers = Enumerable.Range(0, 3).Select(_ => cache.GetOrSetAsync("basket:1", async _ => { await release.Task; return new Basket { Items = ["a"] }; }, cancellationToken: T.Ct).AsTask()).ToList();
        release.SetResult();
        var results = await T.Soon(Task.WhenAll(callers));
        Assert.Equal(3, results.Distinct().Count());
        Assert.All(results, r => Assert.Equal(["a"], r.Items));
    }

    [Fact]
    public async Task Copy_on_read_families_get_early_refresh_too()
    {
        var time = T.Clock();
        var builder = T.Builder(time).Define("basket", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromSeconds(60)).Jitter(0).EarlyRefresh(1).CopyOnRead());
        builder.RandomValue = new FixedRandom(0.9);
        await using var cache = builder.Build();
        await cache.GetOrSetAsync("basket:1", _ => { time.Advance(TimeSpan.FromSeconds(1)); return T.Value(new Basket { Items = ["v1"] }); }, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(59.5));

        var hit = await cache.GetOrSetAsync("basket:1", _ => T.Value(new Basket { Items = ["v2"] }), cancellationToken: T.Ct);
        Assert.Equal(["v1"], hit.Items);
        await T.Until(async () => (await cache.TryGetAsync<Basket>("basket:1")).Value?.Items.SequenceEqual(["v2"]) == true, "copy-on-read entry refreshed early");
    }

    [Fact]
    public async Task An_oversized_payload_throws_typed_and_leaves_the_entry_intact()
    {
        await using var cache = Build(maxPayload: 200);
        await cache.SetAsync("basket:1", new Basket { Items = ["small"] }, cancellationToken: T.Ct);
        var big = new Basket { Items = [new string('x', 500)] };

        var ex = await Assert.ThrowsAsync<PayloadTooLargeException>(async () => await cache.SetAsync("basket:1", big, cancellationToken: T.Ct));
        Assert.Equal(200, ex.Limit);
        Assert.True(ex.Size > 500);
        Assert.Contains("basket:1", ex.Message, StringComparison.Ordinal);
        Assert.Equal(["small"], (await cache.TryGetAsync<Basket>("basket:1", T.Ct)).Value!.Items);

        // From a factory: all callers get the typed exception and nothing is cached.
        await Assert.ThrowsAsync<PayloadTooLargeException>(async () => await cache.GetOrSetAsync("basket:2", _ => T.Value(big), cancellationToken: T.Ct));
        Assert.False((await cache.TryGetAsync<Basket>("basket:2", T.Ct)).Found);
        Assert.Equal(0, cache.Diagnostics.FlightCount);
    }

    [Fact]
    public async Task Serializer_failures_throw_typed_and_leave_the_entry_intact()
    {
        var serializer = new FlakySerializer();
        await using var cache = Build(serializer);
        await cache.SetAsync("basket:1", new Basket { Items = ["ok"] }, cancellationToken: T.Ct);

        serializer.FailSerialize = true;
        var write = await Assert.ThrowsAsync<CacheSerializationException>(async () => await cache.SetAsync("basket:1", new Basket { Items = ["new"] }, cancellationToken: T.Ct));
        Assert.IsType<InvalidOperationException>(write.InnerException);
        Assert.Contains("basket:1", write.Message, StringComparison.Ordinal);
        serializer.FailSerialize = false;

        serializer.FailDeserialize = true;
        var read = await Assert.ThrowsAsync<CacheSerializationException>(async () => await cache.GetOrSetAsync("basket:1", _ => T.Value(new Basket()), cancellationToken: T.Ct));
        Assert.Contains("deserializer broke", read.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<CacheSerializationException>(async () => await cache.TryGetAsync<Basket>("basket:1", T.Ct));
        serializer.FailDeserialize = false;

        Assert.Equal(["ok"], (await cache.TryGetAsync<Basket>("basket:1", T.Ct)).Value!.Items);
    }

    [Fact]
    public async Task Families_without_copy_on_read_never_touch_the_serializer()
    {
        var serializer = new FlakySerializer { FailSerialize = true, FailDeserialize = true };
        await using var cache = T.Price(T.Clock()).WithSerializer(serializer).Build();
        await cache.SetAsync("price:1", new Basket(), cancellationToken: T.Ct);
        Assert.NotNull(await cache.GetOrSetAsync("price:1", _ => T.Value(new Basket()), cancellationToken: T.Ct));
    }
}
