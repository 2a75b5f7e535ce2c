using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coherent.Extensions.Tests;

/// <summary>What docs/serialization.md says of source-generated System.Text.Json contexts, checked.</summary>
public sealed partial class JsonSourceGenerationTests
{
    public sealed record Price(int Id, decimal Amount, string Currency);

    public sealed record NotInContext(int Id);

    [JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
    [JsonSerializable(typeof(Price))]
    [JsonSerializable(typeof(List<Price>))]
    internal sealed partial class PriceJsonContext : JsonSerializerContext;

    private static JsonCacheSerializer ContextSerializer() =>
        new(new JsonSerializerOptions(JsonSerializerDefaults.Web) { TypeInfoResolver = PriceJsonContext.Default });

    [Fact]
    public async Task A_cache_with_a_source_generated_context_round_trips_the_types_it_names()
    {
        var serializer = ContextSerializer();
        var buffer = new ArrayBufferWriter<byte>();
        serializer.Serialize(new List<Price> { new(1, 9.5m, "EUR") }, buffer);
        Assert.Equal("[{\"id\":1,\"amount\":9.5,\"currency\":\"EUR\"}]", System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        Assert.Equal(new Price(1, 9.5m, "EUR"), serializer.Deserialize<List<Price>>(new ReadOnlySequence<byte>(buffer.WrittenMemory))[0]);

        // Through a cache: a copy-on-read family goes through the serializer on every read.
        await using var cache = new CoherentCacheBuilder()
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(5)).CopyOnRead())
            .WithSerializer(serializer)
            .Build();
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(9.5m, (await cache.GetOrSetAsync("price:1", _ => ValueTask.FromResult(new Price(1, 9.5m, "EUR")), cancellationToken: ct)).Amount);
        Assert.Equal(9.5m, (await cache.GetOrSetAsync("price:1", _ => ValueTask.FromResult(new Price(1, -1m, "EUR")), cancellationToken: ct)).Amount);
    }

    [Fact]
    public async Task A_type_missing_from_the_context_is_refused_by_name_even_where_reflection_is_on()
    {
        var direct = Assert.Throws<NotSupportedException>(() => ContextSerializer().Serialize(new NotInContext(1), new ArrayBufferWriter<byte>()));
        Assert.Contains(nameof(NotInContext), direct.Message, StringComparison.Ordinal);

        await using var cache = new CoherentCacheBuilder()
            .Define("other", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(5)).CopyOnRead())
            .WithSerializer(ContextSerializer())
            .Build();
        var error = await Assert.ThrowsAsync<CacheSerializationException>(async () =>
            await cache.GetOrSetAsync("other:1", _ => ValueTask.FromResult(new NotInContext(1)), cancellationToken: TestContext.Current.CancellationToken));
        Assert.IsType<NotSupportedException>(error.InnerException);
        Assert.Contains(nameof(NotInContext), error.Message, StringComparison.Ordinal);
    }
}
