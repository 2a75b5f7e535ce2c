using System.Buffers;

namespace Coherent.Serialization;

/// <summary>Wraps the user's serializer so every failure surfaces as a typed exception naming the key and type.</summary>
internal static class SerializerGuard
{
    public static byte[] Serialize<T>(ICacheSerializer serializer, string key, T value, long maxBytes)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        try
        {
            serializer.Serialize(value, buffer);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new CacheSerializationException($"Could not serialize a {typeof(T)} for key '{UndeclaredFamilyException.Truncate(key)}': {ex.Message}", ex);
        }

        if (buffer.WrittenCount > maxBytes)
        {
            throw new PayloadTooLargeException(key, buffer.WrittenCount, maxBytes);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static T Deserialize<T>(ICacheSerializer serializer, string key, ReadOnlyMemory<byte> payload)
    {
        try
        {
            return serializer.Deserialize<T>(new ReadOnlySequence<byte>(payload));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new CacheSerializationException($"Could not deserialize a {typeof(T)} for key '{UndeclaredFamilyException.Truncate(key)}': {ex.Message}", ex);
        }
    }
}
