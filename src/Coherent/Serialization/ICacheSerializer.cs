using System.Buffers;

namespace Coherent;

/// <summary>Turns values into bytes for the shared tier (and for copy-on-read families) and back.</summary>
public interface ICacheSerializer
{
    /// <summary>Writes <paramref name="value"/> to <paramref name="destination"/>.</summary>
    void Serialize<T>(T value, IBufferWriter<byte> destination);

    /// <summary>Reads a <typeparamref name="T"/> from <paramref name="source"/>.</summary>
    T Deserialize<T>(ReadOnlySequence<byte> source);
}
