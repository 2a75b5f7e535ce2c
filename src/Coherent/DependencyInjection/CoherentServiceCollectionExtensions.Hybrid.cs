using Coherent.DependencyInjection;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Coherent;

public static partial class CoherentServiceCollectionExtensions
{
    /// <summary>
    /// Registers the default cache (as <see cref="AddCoherentCache(IServiceCollection, Action{CoherentCacheBuilder}?)"/>) and makes it
    /// the <see cref="HybridCache"/> of the container, so code written against <see cref="HybridCache"/> runs on Coherent unchanged.
    /// Replaces an existing HybridCache registration and reads HybridCache's options (<c>AddHybridCache(o => ...)</c>) and
    /// serializer registrations. A registered <see cref="IDistributedCache"/> becomes the shared tier when the cache has none
    /// of its own (<c>WithRedis</c>), as HybridCache's L2 — storage only, with the bounds <c>WithDistributedCache</c>
    /// documents. As HybridCache, the cache then gives each caller of a mutable type its own instance
    /// (immutable types — strings, primitives, sealed types marked <c>[ImmutableObject(true)]</c> — are shared), whichever
    /// API, Coherent's or HybridCache's, stored the value.
    /// </summary>
    public static ICoherentCacheServiceBuilder AddCoherentHybridCache(this IServiceCollection services, Action<CoherentCacheBuilder>? configure = null)
    {
        var builder = services.AddCoherentCache(configure);
        Register(services, name: null, static (sp, b) => ServeHybridCache(sp, b, Options.DefaultName));
        services.RemoveAll<HybridCache>();
        services.AddSingleton<HybridCache>(sp => new CoherentHybridCache(sp.GetRequiredService<CoherentCache>(), HybridOptions(sp, Options.DefaultName)));
        return builder;
    }

    /// <summary>
    /// Registers a keyed cache (as <see cref="AddKeyedCoherentCache(IServiceCollection, string, Action{IServiceProvider, CoherentCacheBuilder}?)"/>)
    /// and serves it as the <see cref="HybridCache"/> keyed <paramref name="name"/>, as <c>AddKeyedHybridCache(name)</c> does:
    /// resolve it with <c>[FromKeyedServices("name")] HybridCache</c>. It reads the <see cref="HybridCacheOptions"/> named
    /// <paramref name="name"/> (what <c>AddKeyedHybridCache(name, o => ...)</c> configures). Replaces an existing
    /// HybridCache registered under that key.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or contains ':' (a configuration path separator).</exception>
    public static ICoherentCacheServiceBuilder AddKeyedCoherentHybridCache(this IServiceCollection services, string name, Action<IServiceProvider, CoherentCacheBuilder>? configure = null)
    {
        var builder = services.AddKeyedCoherentCache(name, configure);
        Register(services, name, (sp, b) => ServeHybridCache(sp, b, name));
        services.RemoveAllKeyed<HybridCache>(name);
        services.AddKeyedSingleton<HybridCache>(name, (sp, _) => new CoherentHybridCache(sp.GetRequiredKeyedService<CoherentCache>(name), HybridOptions(sp, name)));
        return builder;
    }

    /// <summary>Registers a keyed HybridCache as <see cref="AddKeyedCoherentHybridCache(IServiceCollection, string, Action{IServiceProvider, CoherentCacheBuilder}?)"/>, with a configure callback that does not need the container.</summary>
    public static ICoherentCacheServiceBuilder AddKeyedCoherentHybridCache(this IServiceCollection services, string name, Action<CoherentCacheBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddKeyedCoherentHybridCache(name, (_, b) => configure(b));
    }

    /// <summary>HybridCache's options as registered (<c>AddHybridCache(o => ...)</c>, named for a keyed cache); HybridCache's defaults otherwise.</summary>
    private static HybridCacheOptions HybridOptions(IServiceProvider sp, string optionsName) =>
        sp.GetService<IOptionsMonitor<HybridCacheOptions>>()?.Get(optionsName) ?? new HybridCacheOptions();

    /// <summary>
    /// Applied after the application's own configure actions: mutable values are copied per caller (HybridCache's rule), the
    /// container's HybridCache serializer registrations are used (added last, so asked before the application's own
    /// factories, after its per-type <c>AddSerializer</c> registrations), and HybridCache's key and payload limits, where
    /// the application changed them from HybridCache's defaults (the same as Coherent's), become the cache's own
    /// (otherwise <c>Coherent:MaxKeyLength</c> and <c>WithMaxKeyLength</c> still apply).
    /// </summary>
    private static void ServeHybridCache(IServiceProvider sp, CoherentCacheBuilder builder, string optionsName)
    {
        builder.CopyMutableValuesValue = true;
        builder.AddSerializerFactory(new HybridSerializers(sp));
        var options = HybridOptions(sp, optionsName);
        var defaults = new HybridCacheOptions();
        if (options.MaximumKeyLength != defaults.MaximumKeyLength)
        {
            builder.WithMaxKeyLength(options.MaximumKeyLength);
        }

        if (options.MaximumPayloadBytes != defaults.MaximumPayloadBytes)
        {
            builder.WithMaxPayloadBytes(options.MaximumPayloadBytes);
        }

        if (!builder.HasSharedTier && DistributedCacheOf(sp, options) is { } distributed)
        {
            builder.WithDistributedCache(distributed);
        }
    }

    /// <summary>
    /// The distributed cache HybridCache would use as its L2: the one keyed <see cref="HybridCacheOptions.DistributedCacheServiceKey"/>
    /// when set, else the container's; never the in-process <see cref="MemoryDistributedCache"/> (HybridCache skips it too:
    /// a second in-memory copy is no shared tier). Used only when the cache has no shared tier of its own (<c>WithRedis</c>).
    /// </summary>
    private static IDistributedCache? DistributedCacheOf(IServiceProvider sp, HybridCacheOptions options)
    {
        var cache = options.DistributedCacheServiceKey is { } key ? sp.GetRequiredKeyedService<IDistributedCache>(key) : sp.GetService<IDistributedCache>();
        return cache is MemoryDistributedCache ? null : cache;
    }
}
