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
        Assert.Equal(0, cache.Flights.Count);
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
