using System.Buffers;

namespace Coherent;

/// <summary>
/// Turns values of one type into bytes and back: for the shared tier, copy-on-read families and (in a cache serving
/// HybridCache) mutable types. Register with <see cref="CoherentCacheBuilder.AddSerializer{T}"/>; it is used for exactly
/// <typeparamref name="T"/> and wins over every factory and the cache's general <see cref="ICacheSerializer"/>.
/// </summary>
/// <typeparam name="T">The type this serializer handles.</typeparam>
public interface ICacheSerializer<T>
{
    /// <summary>Writes <paramref name="value"/> to <paramref name="destination"/>.</summary>
    void Serialize(T value, IBufferWriter<byte> destination);

    /// <summary>Reads a <typeparamref name="T"/> from <paramref name="source"/>.</summary>
    T Deserialize(ReadOnlySequence<byte> source);
}
