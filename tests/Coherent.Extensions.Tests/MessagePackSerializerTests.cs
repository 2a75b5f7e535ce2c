using System.Buffers;
using MessagePack;
using MessagePack.Resolvers;

namespace Coherent.Extensions.Tests;

/// <summary>The MessagePack serializer: round trips, records with and without attributes, LZ4, and what it does with bad bytes.</summary>
public sealed class MessagePackSerializerTests
{
    public sealed record Line(string Sku, int Quantity, decimal Price);

    public sealed record Order(Guid Id, string Customer, DateTimeOffset PlacedAt, IReadOnlyList<Line> Lines, Dictionary<string, string> Notes);

    [MessagePackObject]
    public sealed record Keyed([property: Key(0)] int Id, [property: Key(1)] string Name);

    private static Order SampleOrder() => new(
        Guid.Parse("6f9619ff-8b86-d011-b42d-00cf4fc964ff"), "Ana Lima", new DateTimeOffset(2026, 11, 3, 14, 5, 0, TimeSpan.FromHours(1)),
        [new("A-1", 2, 9.99m), new("B-22", 1, 120.5m)], new() { ["gift"] = "yes" });

    private static byte[] Bytes<T>(MessagePackCacheSerializer serializer, T value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        serializer.Serialize(value, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static T RoundTrip<T>(MessagePackCacheSerializer serializer, T value) =>
        serializer.Deserialize<T>(new ReadOnlySequence<byte>(Bytes(serializer, value)));

    [Fact]
    public void An_unattributed_record_with_a_list_and_a_dictionary_round_trips_with_the_default_settings()
    {
        var order = SampleOrder();
        var back = RoundTrip(MessagePackCacheSerializer.Default, order);
        Assert.Equal(order.Id, back.Id);
        Assert.Equal(order.Customer, back.Customer);
        Assert.Equal(order.PlacedAt, back.PlacedAt);
        Assert.Equal(order.Lines, back.Lines);
        Assert.Equal("yes", back.Notes["gift"]);
    }

    [Fact]
    public void Primitives_null_and_an_attributed_record_round_trip()
    {
        var serializer = MessagePackCacheSerializer.Default;
        Assert.Equal(42.5m, RoundTrip(serializer, 42.5m));
        Assert.Equal("héllo", RoundTrip(serializer, "héllo"));
        Assert.Null(RoundTrip<string?>(serializer, null));
        Assert.Equal(new Keyed(7, "seven"), RoundTrip(serializer, new Keyed(7, "seven")));
        // [Key(n)] types are written as arrays: no member names in the payload.
        Assert.DoesNotContain((byte)'N', Bytes(serializer, new Keyed(7, "x")));
    }

    [Fact]
    public void With_lz4_a_repetitive_payload_shrinks_and_reads_back_and_reads_plain_payloads_while_a_plain_reader_refuses_it()
    {
        var big = Enumerable.Range(0, 200).Select(i => new Line("SKU-REPEATED-" + (i % 3), i, 1.5m)).ToList();
        var lz4 = new MessagePackCacheSerializer(new MessagePackCacheSerializerOptions { Lz4Compression = true });
        var plain = Bytes(MessagePackCacheSerializer.Default, big);
        var compressed = Bytes(lz4, big);
        Assert.True(compressed.Length < plain.Length / 2, $"LZ4 {compressed.Length} bytes against {plain.Length} plain");
        Assert.Equal(big, lz4.Deserialize<List<Line>>(new ReadOnlySequence<byte>(compressed)));
        Assert.Equal(big, lz4.Deserialize<List<Line>>(new ReadOnlySequence<byte>(plain)));
        Assert.Throws<CacheSerializationException>(() => MessagePackCacheSerializer.Default.Deserialize<List<Line>>(new ReadOnlySequence<byte>(compressed)));
    }

    [Fact]
    public void Bad_bytes_truncated_bytes_and_trailing_bytes_are_a_CacheSerializationException_naming_the_type()
    {
        var serializer = MessagePackCacheSerializer.Default;
        var good = Bytes(serializer, SampleOrder());
        var cases = new[]
        {
            "{\"id\":1}"u8.ToArray(),             // a JSON payload (another node's serializer)
            good[..(good.Length / 2)],             // truncated
            [.. good, 0xc0],                       // a whole value and then more
            [0xc1],                                // the one byte MessagePack never uses
        };
        foreach (var bytes in cases)
        {
            var error = Assert.Throws<CacheSerializationException>(() => serializer.Deserialize<Order>(new ReadOnlySequence<byte>(bytes)));
            Assert.Contains(nameof(Order), error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_standard_resolver_refuses_an_unattributed_type_when_writing()
    {
        var strict = new MessagePackCacheSerializer(new MessagePackCacheSerializerOptions { Resolver = StandardResolver.Instance });
        Assert.ThrowsAny<Exception>(() => Bytes(strict, SampleOrder()));
        Assert.Throws<ArgumentException>(() => new MessagePackCacheSerializer(new MessagePackCacheSerializerOptions { Resolver = null! }));
    }

    [Fact]
    public async Task A_copy_on_read_family_serializes_through_MessagePack_and_hands_each_reader_its_own_copy()
    {
        await using var cache = new CoherentCacheBuilder()
            .Define("order", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(5)).CopyOnRead())
            .WithMessagePack(o => o.Lz4Compression = true)
            .Build();
        var ct = TestContext.Current.CancellationToken;
        var first = await cache.GetOrSetAsync("order:1", _ => ValueTask.FromResult(SampleOrder()), cancellationToken: ct);
        first.Notes["gift"] = "changed by a reader";
        var second = await cache.GetOrSetAsync("order:1", _ => ValueTask.FromResult(SampleOrder() with { Customer = "factory ran again" }), cancellationToken: ct);
        Assert.Equal("Ana Lima", second.Customer);
        Assert.Equal("yes", second.Notes["gift"]);
        Assert.NotSame(first, second);
    }
}
