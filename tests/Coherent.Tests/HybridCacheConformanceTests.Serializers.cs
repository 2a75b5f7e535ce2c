using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.Tests;

/// <summary>Item 4 of issue 16: HybridCache's serializer registrations are used (mutable types go through them on both).</summary>
public sealed partial class HybridCacheConformanceTests
{
    /// <summary>Sealed but not marked immutable: both implementations keep it as bytes and deserialize per call.</summary>
    public sealed class Tracked
    {
        public string Text { get; set; } = "";
        public string? Via { get; set; }
    }

    public sealed class OtherTracked
    {
        public string Text { get; set; } = "";
        public string? Via { get; set; }
    }

    /// <summary>Writes the text; reads it back stamped with this serializer's name, so a test sees which one ran.</summary>
    private sealed class NamedSerializer(string name) : IHybridCacheSerializer<Tracked>, IHybridCacheSerializer<OtherTracked>
    {
        public void Serialize(Tracked value, IBufferWriter<byte> target) => target.Write(Encoding.UTF8.GetBytes(value.Text));

        public void Serialize(OtherTracked value, IBufferWriter<byte> target) => target.Write(Encoding.UTF8.GetBytes(value.Text));

        Tracked IHybridCacheSerializer<Tracked>.Deserialize(ReadOnlySequence<byte> source) => new() { Text = Encoding.UTF8.GetString(source), Via = name };

        OtherTracked IHybridCacheSerializer<OtherTracked>.Deserialize(ReadOnlySequence<byte> source) => new() { Text = Encoding.UTF8.GetString(source), Via = name };
    }

    private sealed class NamedFactory(string name) : IHybridCacheSerializerFactory
    {
        public bool TryCreateSerializer<TValue>([NotNullWhen(true)] out IHybridCacheSerializer<TValue>? serializer)
        {
            serializer = typeof(TValue) == typeof(Tracked) || typeof(TValue) == typeof(OtherTracked) ? (IHybridCacheSerializer<TValue>)(object)new NamedSerializer(name) : null;
            return serializer is not null;
        }
    }

    private static async Task<string?> ViaOf<TValue>(HybridCache hybrid, string key, Func<TValue> create, Func<TValue, string?> via)
    {
        await hybrid.GetOrCreateAsync(key, _ => ValueTask.FromResult(create()), cancellationToken: T.Ct);
        return via(await hybrid.GetOrCreateAsync(key, _ => ValueTask.FromResult(create()), cancellationToken: T.Ct));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_serializer_registered_for_a_type_serializes_it(string impl)
    {
        await using var provider = Create(impl, hybrid: h => h.AddSerializer<Tracked>(new NamedSerializer("typed")));
        var hybrid = provider.GetRequiredService<HybridCache>();

        var read = await hybrid.GetOrCreateAsync("tracked", _ => ValueTask.FromResult(new Tracked { Text = "hello" }), cancellationToken: T.Ct);
        read = await hybrid.GetOrCreateAsync("tracked", _ => ValueTask.FromResult(new Tracked { Text = "other" }), cancellationToken: T.Ct);

        Assert.Equal("hello", read.Text);
        Assert.Equal("typed", read.Via);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_registered_factory_serializes_the_types_it_handles_and_a_type_registration_wins_over_it(string impl)
    {
        await using var provider = Create(impl, hybrid: h => h
            .AddSerializerFactory(new NamedFactory("first-factory"))
            .AddSerializerFactory(new NamedFactory("last-factory"))
            .AddSerializer<Tracked>(new NamedSerializer("typed")));
        var hybrid = provider.GetRequiredService<HybridCache>();

        Assert.Equal("typed", await ViaOf(hybrid, "t", () => new Tracked { Text = "a" }, v => v.Via));
        Assert.Equal("last-factory", await ViaOf(hybrid, "o", () => new OtherTracked { Text = "b" }, v => v.Via));
    }
}
