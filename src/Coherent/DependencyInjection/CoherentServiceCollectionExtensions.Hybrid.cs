using Coherent.DependencyInjection;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

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
        Register(services, name: null, static (_, b) => b.CopyMutableValuesValue = true);
        services.RemoveAll<HybridCache>();
        services.AddSingleton<HybridCache>(sp => new CoherentHybridCache(sp.GetRequiredService<CoherentCache>()));
        return builder;
    }
}
