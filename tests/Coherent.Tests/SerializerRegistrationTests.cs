using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Coherent.Tests;

/// <summary>Per-type serializers: a type's registration, then factories (last added first), then the general serializer.</summary>
public sealed class SerializerRegistrationTests
{
    public sealed class Doc
    {
        public string Text { get; init; } = "";
        public string? Via { get; init; }
    }

    public sealed class Note
    {
        public string Text { get; init; } = "";
        public string? Via { get; init; }
    }

    /// <summary>Reads values back stamped with its name, so a test sees which serializer ran.</summary>
    private sealed class Named(string name) : ICacheSerializer<Doc>, ICacheSerializer<Note>, ICacheSerializer
    {
        public void Serialize(Doc value, IBufferWriter<byte> destination) => destination.Write(Encoding.UTF8.GetBytes(value.Text));

        public void Serialize(Note value, IBufferWriter<byte> destination) => destination.Write(Encoding.UTF8.GetBytes(value.Text));

        Doc ICacheSerializer<Doc>.Deserialize(ReadOnlySequence<byte> source) => new() { Text = Encoding.UTF8.GetString(source), Via = name };

        Note ICacheSerializer<Note>.Deserialize(ReadOnlySequence<byte> source) => new() { Text = Encoding.UTF8.GetString(source), Via = name };

        public void Serialize<TValue>(TValue value, IBufferWriter<byte> destination) => ((ICacheSerializer<TValue>)(object)this).Serialize(value, destination);

        public TValue Deserialize<TValue>(ReadOnlySequence<byte> source) => ((ICacheSerializer<TValue>)(object)this).Deserialize(source);
    }

    /// <summary>Handles the types it was given, counting how often it is asked.</summary>
    private sealed class Factory(string name, params Type[] handles) : ICacheSerializerFactory
    {
        public int Asked { get; private set; }

        public bool TryCreateSerializer<TValue>([NotNullWhen(true)] out ICacheSerializer<TValue>? serializer)
        {
            Asked++;
            serializer = handles.Contains(typeof(TValue)) ? (ICacheSerializer<TValue>)(object)new Named(name) : null;
            return serializer is not null;
        }
    }

    /// <summary>A copy-on-read family: every read deserializes, so the serializer that ran shows in what a read returns.</summary>
    private static CoherentCacheBuilder CopyOnRead(string generalName = "general") =>
        T.Builder(T.Clock()).Define("doc", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).CopyOnRead()).WithSerializer(new Named(generalName));

    private static async Task<string?> ViaOf<TValue>(CoherentCache cache, string key, TValue value, Func<TValue, string?> via)
    {
        await cache.SetAsync(key, value, cancellationToken: T.Ct);
        return via(await cache.GetOrSetAsync(key, _ => ValueTask.FromResult(value), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task A_type_registration_wins_over_factories_and_the_general_serializer()
    {
        await using var cache = CopyOnRead()
            .AddSerializerFactory(new Factory("factory", typeof(Doc)))
            .AddSerializer<Doc>(new Named("typed"))
            .Build();

        Assert.Equal("typed", await ViaOf(cache, "doc:1", new Doc { Text = "a" }, d => d.Via));
    }

    [Fact]
    public async Task Factories_are_asked_last_added_first_and_one_that_declines_falls_through()
    {
        await using var cache = CopyOnRead()
            .AddSerializerFactory(new Factory("first", typeof(Doc), typeof(Note)))
            .AddSerializerFactory(new Factory("second", typeof(Doc)))
            .AddSerializerFactory(new Factory("declines-all"))
            .Build();

        Assert.Equal("second", await ViaOf(cache, "doc:1", new Doc { Text = "a" }, d => d.Via));
        Assert.Equal("first", await ViaOf(cache, "doc:2", new Note { Text = "b" }, n => n.Via));
    }

    [Fact]
    public async Task A_type_no_registration_handles_goes_to_the_general_serializer()
    {
        await using var cache = CopyOnRead().AddSerializerFactory(new Factory("factory", typeof(Note))).Build();

        Assert.Equal("general", await ViaOf(cache, "doc:1", new Doc { Text = "a" }, d => d.Via));
    }

    [Fact]
    public async Task A_type_is_resolved_once_per_cache_and_each_cache_keeps_its_own()
    {
        var factoryA = new Factory("a", typeof(Doc));
        var factoryB = new Factory("b", typeof(Doc));
        await using var a = CopyOnRead().AddSerializerFactory(factoryA).Build();
        await using var b = CopyOnRead().AddSerializerFactory(factoryB).Build();

        for (var i = 0; i < 3; i++)
        {
            // Alternating: each cache must get its own serializer for the same type, every time.
            Assert.Equal("a", await ViaOf(a, "doc:1", new Doc { Text = "x" }, d => d.Via));
            Assert.Equal("b", await ViaOf(b, "doc:1", new Doc { Text = "x" }, d => d.Via));
        }

        Assert.Equal(1, factoryA.Asked);
        Assert.Equal(1, factoryB.Asked);
    }

    [Fact]
    public void Null_registrations_throw_ArgumentNullException()
    {
        var builder = new CoherentCacheBuilder();
        Assert.Throws<ArgumentNullException>(() => builder.AddSerializer<Doc>(null!));
        Assert.Throws<ArgumentNullException>(() => builder.AddSerializerFactory(null!));
    }
}
