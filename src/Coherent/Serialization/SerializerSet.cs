using System.Buffers;
using System.Collections.Concurrent;

namespace Coherent.Serialization;

/// <summary>
/// A cache's serializers: per-type registrations, then factories (last added first), then the general serializer — the one
/// precedence rule, decided once per type per cache. Seen by the engine as its one <see cref="ICacheSerializer"/>; a cache
/// with no per-type registration or factory uses its general serializer directly (<see cref="Create"/>).
/// </summary>
internal sealed class SerializerSet : ICacheSerializer
{
    private readonly ICacheSerializer _general;
    private readonly Dictionary<Type, object> _typed;
    private readonly ICacheSerializerFactory[] _factories;
    private readonly ConcurrentDictionary<Type, object> _resolved = new();

    private SerializerSet(ICacheSerializer general, Dictionary<Type, object> typed, ICacheSerializerFactory[] factories)
    {
        _general = general;
        _typed = typed;
        _factories = factories;
    }

    /// <summary>The set for a cache; <paramref name="factories"/> in the order they were added.</summary>
    public static ICacheSerializer Create(ICacheSerializer general, IReadOnlyDictionary<Type, object> typed, IReadOnlyList<ICacheSerializerFactory> factories) =>
        typed.Count == 0 && factories.Count == 0
            ? general
            : new SerializerSet(general, new Dictionary<Type, object>(typed), factories.Reverse().ToArray());

    public void Serialize<T>(T value, IBufferWriter<byte> destination) => For<T>().Serialize(value, destination);

    public T Deserialize<T>(ReadOnlySequence<byte> source) => For<T>().Deserialize(source);

    /// <summary>
    /// The serializer for <typeparamref name="T"/>. A copy-on-read L1 hit deserializes through here: the last set that
    /// resolved <typeparamref name="T"/> is remembered per type (<see cref="Last{T}"/>), so with one cache per process a
    /// hit compares one reference instead of looking the type up.
    /// </summary>
    public ICacheSerializer<T> For<T>()
    {
        var last = Last<T>.Resolved;
        if (last is not null && ReferenceEquals(last.Owner, this))
        {
            return last.Serializer;
        }

        var resolved = (Resolved<T>)_resolved.GetOrAdd(typeof(T), static (_, set) => new Resolved<T>(set, set.Resolve<T>()), this);
        Last<T>.Resolved = resolved; // no allocation: each set's holder is made once per type
        return resolved.Serializer;
    }

    private ICacheSerializer<T> Resolve<T>()
    {
        if (_typed.TryGetValue(typeof(T), out var typed))
        {
            return (ICacheSerializer<T>)typed;
        }

        foreach (var factory in _factories)
        {
            if (factory.TryCreateSerializer<T>(out var created))
            {
                return created;
            }
        }

        return new General<T>(_general);
    }

    private sealed class Resolved<T>(SerializerSet owner, ICacheSerializer<T> serializer)
    {
        public SerializerSet Owner { get; } = owner;
        public ICacheSerializer<T> Serializer { get; } = serializer;
    }

    /// <summary>Per type, the holder last resolved by any set (a reference write: readers see a whole holder or the previous one).</summary>
    private static class Last<T>
    {
        public static Resolved<T>? Resolved;
    }

    private sealed class General<T>(ICacheSerializer general) : ICacheSerializer<T>
    {
        public void Serialize(T value, IBufferWriter<byte> destination) => general.Serialize(value, destination);

        public T Deserialize(ReadOnlySequence<byte> source) => general.Deserialize<T>(source);
    }
}
