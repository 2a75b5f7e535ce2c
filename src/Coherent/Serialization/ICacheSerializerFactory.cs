using System.Diagnostics.CodeAnalysis;

namespace Coherent;

/// <summary>
/// Supplies per-type serializers for the types it knows (a family of types, a format). Register with
/// <see cref="CoherentCacheBuilder.AddSerializerFactory"/>. A cache asks once per type: per-type registrations first, then
/// factories, the last added first, then its general <see cref="ICacheSerializer"/>.
/// </summary>
public interface ICacheSerializerFactory
{
    /// <summary>Creates a serializer for <typeparamref name="T"/>, or returns false when this factory does not handle it.</summary>
    bool TryCreateSerializer<T>([NotNullWhen(true)] out ICacheSerializer<T>? serializer);
}
