using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Coherent;

/// <summary>
/// The default serializer: System.Text.Json. Pass options whose <see cref="JsonSerializerOptions.TypeInfoResolver"/> is a
/// source-generated <c>JsonSerializerContext</c> for trimming- and AOT-safe, reflection-free serialization.
/// </summary>
public sealed class JsonCacheSerializer : ICacheSerializer
{
    /// <summary>Web defaults (camelCase), reflection-based type info (not in trimmed or native AOT applications).</summary>
    public static JsonCacheSerializer Default { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    private readonly JsonSerializerOptions _options;

    /// <summary>
    /// Creates a serializer with the given options (made read-only). Options without a resolver get System.Text.Json's
    /// reflection-based one while reflection-based serialization is enabled, that is, except in trimmed and native AOT
    /// applications: there such a serializer throws <see cref="NotSupportedException"/> for a type, and the options
    /// need a source-generated <c>JsonSerializerContext</c> as their resolver.
    /// </summary>
    public JsonCacheSerializer(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.TypeInfoResolver ??= ReflectionResolverIfEnabled();
        options.MakeReadOnly();
        _options = options;
    }

    /// <inheritdoc />
    public void Serialize<T>(T value, IBufferWriter<byte> destination)
    {
        using var writer = new Utf8JsonWriter(destination);
        JsonSerializer.Serialize(writer, value, TypeInfo<T>());
    }

    /// <inheritdoc />
    public T Deserialize<T>(ReadOnlySequence<byte> source)
    {
        // One contiguous buffer (every L2 read): the span overload parses once. The reader overload first skips over the
        // whole value to find its end and then parses it, two passes over the payload.
        if (source.IsSingleSegment)
        {
            return JsonSerializer.Deserialize(source.FirstSpan, TypeInfo<T>())!;
        }

        var reader = new Utf8JsonReader(source);
        return JsonSerializer.Deserialize(ref reader, TypeInfo<T>())!;
    }

    // Trimming and native AOT turn System.Text.Json's feature switch off, and the trimmer then drops the reflection
    // branch: an application gets a NotSupportedException naming the type to add to its context, never a payload
    // that silently lacks members the trimmer removed. (The analyzer does not read the switch as a guard.)
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Behind the JsonSerializer.IsReflectionEnabledByDefault feature switch.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Behind the JsonSerializer.IsReflectionEnabledByDefault feature switch.")]
    private static IJsonTypeInfoResolver ReflectionResolverIfEnabled() =>
        JsonSerializer.IsReflectionEnabledByDefault ? new DefaultJsonTypeInfoResolver() : JsonTypeInfoResolver.Combine();

    private JsonTypeInfo<T> TypeInfo<T>() => (JsonTypeInfo<T>)_options.GetTypeInfo(typeof(T));
}
