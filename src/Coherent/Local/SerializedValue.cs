namespace Coherent.Local;

/// <summary>L1 holds this instead of the object for copy-on-read families: every read deserializes a private copy.</summary>
internal sealed class SerializedValue(byte[] payload, Type type)
{
    public byte[] Payload { get; } = payload;
    public Type Type { get; } = type;
}
