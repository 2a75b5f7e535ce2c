using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.DependencyInjection;

/// <summary>
/// The container's HybridCache serializers (<c>AddSerializer&lt;T&gt;()</c>, <see cref="IHybridCacheSerializer{T}"/>,
/// <see cref="IHybridCacheSerializerFactory"/>) as one Coherent serializer factory, with HybridCache's own precedence:
/// the type's registered serializer (the last registered), then the factories, the last registered first. The serializers
/// HybridCache registers itself (its System.Text.Json factory, its string and byte[] serializers) are left out: the cache's
/// general serializer (<c>WithSerializer</c>) covers those types, so a value's bytes do not depend on whether
/// <c>AddHybridCache()</c> was also called.
/// </summary>
internal sealed class HybridSerializers(IServiceProvider services) : ICacheSerializerFactory
{
    private static readonly Assembly Builtin = typeof(HybridCacheOptions).Assembly;

    private readonly IHybridCacheSerializerFactory[] _factories =
        services.GetServices<IHybridCacheSerializerFactory>().Where(f => f.GetType().Assembly != Builtin).Reverse().ToArray();

    public bool TryCreateSerializer<T>([NotNullWhen(true)] out ICacheSerializer<T>? serializer)
    {
        if (services.GetService<IHybridCacheSerializer<T>>() is { } typed && typed.GetType().Assembly != Builtin)
        {
            serializer = new Wrapped<T>(typed);
            return true;
        }

        foreach (var factory in _factories)
        {
            if (factory.TryCreateSerializer<T>(out var created))
            {
                serializer = new Wrapped<T>(created);
                return true;
            }
        }

        serializer = null;
        return false;
    }

    private sealed class Wrapped<T>(IHybridCacheSerializer<T> inner) : ICacheSerializer<T>
    {
        public void Serialize(T value, IBufferWriter<byte> destination) => inner.Serialize(value, destination);

        public T Deserialize(ReadOnlySequence<byte> source) => inner.Deserialize(source);
    }
}
