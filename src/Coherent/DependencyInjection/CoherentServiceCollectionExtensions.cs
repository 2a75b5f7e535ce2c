using Coherent.DependencyInjection;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Coherent;

/// <summary>Registers Coherent in a service collection.</summary>
public static class CoherentServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="CoherentCache"/> singleton (also as <see cref="ICoherentCache"/>). Idempotent: calling it again
    /// registers nothing new but adds <paramref name="configure"/> to the setup. The cache reads the <c>Coherent</c>
    /// configuration section when an <see cref="IConfiguration"/> is registered, and takes <see cref="TimeProvider"/> and
    /// <see cref="ILoggerFactory"/> from the container when present. Configuration is applied first, then code.
    /// </summary>
    public static IServiceCollection AddCoherentCache(this IServiceCollection services, Action<CoherentCacheBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var setup = services.FirstOrDefault(d => d.ServiceType == typeof(CoherentSetup))?.ImplementationInstance as CoherentSetup;
        if (setup is null)
        {
            setup = new CoherentSetup();
            services.AddSingleton(setup);
            services.TryAddSingleton(sp => Create(sp, sp.GetRequiredService<CoherentSetup>()));
            services.TryAddSingleton<ICoherentCache>(sp => sp.GetRequiredService<CoherentCache>());
        }

        if (configure is not null)
        {
            setup.Actions.Add(configure);
        }

        return services;
    }

    /// <summary>
    /// Registers Coherent (as <see cref="AddCoherentCache"/>) and makes it the <see cref="HybridCache"/> of the container, so
    /// code written against <see cref="HybridCache"/> runs on Coherent unchanged. Replaces an existing HybridCache registration.
    /// </summary>
    public static IServiceCollection AddCoherentHybridCache(this IServiceCollection services, Action<CoherentCacheBuilder>? configure = null)
    {
        services.AddCoherentCache(configure);
        services.RemoveAll<HybridCache>();
        services.AddSingleton<HybridCache>(sp => new CoherentHybridCache(sp.GetRequiredService<CoherentCache>()));
        return services;
    }

    private static CoherentCache Create(IServiceProvider sp, CoherentSetup setup)
    {
        var builder = new CoherentCacheBuilder();
        if (sp.GetService<TimeProvider>() is { } time)
        {
            builder.WithTimeProvider(time);
        }

        if (sp.GetService<ILoggerFactory>() is { } loggers)
        {
            builder.WithLoggerFactory(loggers);
        }

        if (sp.GetService<IConfiguration>()?.GetSection("Coherent") is { } section && section.Exists())
        {
            builder.FromConfiguration(section);
        }

        foreach (var action in setup.Actions)
        {
            action(builder);
        }

        return builder.Build();
    }
}
