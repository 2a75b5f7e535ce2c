namespace Coherent;

/// <summary>Sets the MessagePack serializer on a cache builder.</summary>
public static class MessagePackCacheBuilderExtensions
{
    /// <summary>
    /// Serializes values for the shared tier (and copy-on-read families) with MessagePack instead of System.Text.Json.
    /// Every node of a fleet must use the same serializer: a node cannot read another's JSON payloads, and reports them as
    /// <see cref="CacheSerializationException"/> (the read then goes to the factory).
    /// </summary>
    /// <param name="builder">The cache builder.</param>
    /// <param name="configure">Changes the settings (resolver, LZ4, untrusted data); the defaults when null.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static CoherentCacheBuilder WithMessagePack(this CoherentCacheBuilder builder, Action<MessagePackCacheSerializerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (configure is null)
        {
            return builder.WithSerializer(MessagePackCacheSerializer.Default);
        }

        var options = new MessagePackCacheSerializerOptions();
        configure(options);
        return builder.WithSerializer(new MessagePackCacheSerializer(options));
    }
}
