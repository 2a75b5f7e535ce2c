using Coherent.DependencyInjection;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Coherent;

public static partial class CoherentServiceCollectionExtensions
{
    /// <summary>
    /// Registers the default cache (as <see cref="AddCoherentCache(IServiceCollection, Action{CoherentCacheBuilder}?)"/>) and makes it
    /// the <see cref="HybridCache"/> of the container, so code written against <see cref="HybridCache"/> runs on Coherent unchanged.
    /// Replaces an existing HybridCache registration. As HybridCache, the cache then gives each caller of a mutable type its
    /// own instance (immutable types — strings, primitives, sealed types marked <c>[ImmutableObject(true)]</c> — are shared),
    /// whichever API, Coherent's or HybridCache's, stored the value.
    /// </summary>
    public static ICoherentCacheServiceBuilder AddCoherentHybridCache(this IServiceCollection services, Action<CoherentCacheBuilder>? configure = null)
    {
        var builder = services.AddCoherentCache(configure);
        Register(services, name: null, static (sp, b) => ServeHybridCache(sp, b));
        services.RemoveAll<HybridCache>();
        services.AddSingleton<HybridCache>(sp => new CoherentHybridCache(sp.GetRequiredService<CoherentCache>(), HybridOptions(sp)));
        return builder;
    }

    /// <summary>HybridCache's options as registered (<c>AddHybridCache(o => ...)</c>, or configured); HybridCache's defaults otherwise.</summary>
    private static HybridCacheOptions HybridOptions(IServiceProvider sp) =>
        sp.GetService<IOptions<HybridCacheOptions>>()?.Value ?? new HybridCacheOptions();

    /// <summary>
    /// Applied after the application's own configure actions: mutable values are copied per caller (HybridCache's rule), the
    /// container's HybridCache serializer registrations are used (added last, so asked before the application's own
    /// factories, after its per-type <c>AddSerializer</c> registrations), and
    /// HybridCache's key and payload limits, where the application changed them from HybridCache's defaults (the same as
    /// Coherent's), become the cache's own (otherwise <c>Coherent:MaxKeyLength</c> and <c>WithMaxKeyLength</c> still apply).
    /// </summary>
    private static void ServeHybridCache(IServiceProvider sp, CoherentCacheBuilder builder)
    {
        builder.CopyMutableValuesValue = true;
        builder.AddSerializerFactory(new HybridSerializers(sp));
        var options = HybridOptions(sp);
        var defaults = new HybridCacheOptions();
        if (options.MaximumKeyLength != defaults.MaximumKeyLength)
        {
            builder.WithMaxKeyLength(options.MaximumKeyLength);
        }

        if (options.MaximumPayloadBytes != defaults.MaximumPayloadBytes)
        {
            builder.WithMaxPayloadBytes(options.MaximumPayloadBytes);
        }
    }
}
