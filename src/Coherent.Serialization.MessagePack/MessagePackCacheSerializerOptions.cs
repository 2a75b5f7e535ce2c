using MessagePack;
using MessagePack.Resolvers;

namespace Coherent;

/// <summary>Settings of a <see cref="MessagePackCacheSerializer"/>, read once when it is created.</summary>
public sealed class MessagePackCacheSerializerOptions
{
    /// <summary>
    /// Finds the formatter of each type. Default <see cref="ContractlessStandardResolver.Instance"/>: types marked
    /// <c>[MessagePackObject]</c> with integer <c>[Key]</c>s are written as compact arrays, and any other class or record is
    /// written as a map by member name, so no attribute is needed to start. Give <see cref="StandardResolver.Instance"/>
    /// to refuse unattributed types, or a composite with formatters generated ahead of time.
    /// </summary>
    public IFormatterResolver Resolver { get; set; } = ContractlessStandardResolver.Instance;

    /// <summary>
    /// Compresses payloads with LZ4 (MessagePack's <see cref="MessagePackCompression.Lz4BlockArray"/>). Default off: cached
    /// values are small, and for them LZ4 costs more time than it saves bytes (docs/serialization.md has the figures).
    /// A serializer with LZ4 on also reads plain payloads; one with it off cannot read compressed ones (it reports a
    /// <see cref="CacheSerializationException"/>, and the read goes to the factory) until every node has switched.
    /// </summary>
    public bool Lz4Compression { get; set; }

    /// <summary>
    /// Treats payloads as untrusted (<see cref="MessagePackSecurity.UntrustedData"/>: collision-resistant hashing for
    /// dictionaries and a depth limit), since the shared tier is writable by every node and whoever else reaches it.
    /// Default true; false saves a little time where the store is trusted.
    /// </summary>
    public bool UntrustedData { get; set; } = true;
}
