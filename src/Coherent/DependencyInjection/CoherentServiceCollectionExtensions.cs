using Coherent.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coherent;

/// <summary>
/// Registers Coherent in a service collection. The methods return an <see cref="ICoherentCacheServiceBuilder"/>, as
/// <c>AddHybridCache</c> returns <c>IHybridCacheBuilder</c>; go on registering through its <see cref="ICoherentCacheServiceBuilder.Services"/>.
/// Every registered cache is built and validated when the host starts (<c>ValidateOnStart</c>): a bad configuration
/// fails the start with one <see cref="CoherentConfigurationException"/> listing every problem of every cache.
/// </summary>
public static partial class CoherentServiceCollectionExtensions
{
    /// <summary>
    /// Registers the default <see cref="CoherentCache"/> singleton (also as <see cref="ICoherentCache"/>). Idempotent: calling
    /// it again registers nothing new but adds <paramref name="configure"/> to the setup. The cache reads the <c>Coherent</c>
    /// configuration section when an <see cref="IConfiguration"/> is registered, and takes <see cref="TimeProvider"/> and
    /// <see cref="ILoggerFactory"/> from the container when present. Configuration is applied first, then code.
    /// </summary>
    public static ICoherentCacheServiceBuilder AddCoherentCache(this IServiceCollection services, Action<CoherentCacheBuilder>? configure = null) =>
        Register(services, name: null, configure is null ? null : (_, b) => configure(b));

    /// <summary>
    /// Registers the default cache as <see cref="AddCoherentCache(IServiceCollection, Action{CoherentCacheBuilder}?)"/>, with a
    /// configure callback that gets the container, to use registered services (options, a connection, a serializer).
    /// </summary>
    public static ICoherentCacheServiceBuilder AddCoherentCache(this IServiceCollection services, Action<IServiceProvider, CoherentCacheBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services, name: null, configure);
    }

    /// <summary>
    /// Registers a keyed <see cref="CoherentCache"/> singleton (also as <see cref="ICoherentCache"/>) under <paramref name="name"/>,
    /// resolved with <c>[FromKeyedServices("name")]</c> or <c>GetRequiredKeyedService</c>. Each keyed cache has its own families,
    /// its name (<c>WithName(name)</c> unless set), its configuration section <c>Coherent:Caches:&lt;name&gt;</c> (not
    /// <c>Coherent</c>, which is the default cache's) and, with Redis, its own key prefix (default: the cache's name).
    /// Idempotent per name, like <see cref="AddCoherentCache(IServiceCollection, Action{CoherentCacheBuilder}?)"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or contains ':' (a configuration path separator).</exception>
    public static ICoherentCacheServiceBuilder AddKeyedCoherentCache(this IServiceCollection services, string name, Action<IServiceProvider, CoherentCacheBuilder>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException($"A keyed cache's name is a configuration key (Coherent:Caches:<name>) and cannot contain ':'; got '{name}'.", nameof(name));
        }

        return Register(services, name, configure);
    }

    /// <summary>Registers a keyed cache as <see cref="AddKeyedCoherentCache(IServiceCollection, string, Action{IServiceProvider, CoherentCacheBuilder}?)"/>, with a configure callback that does not need the container.</summary>
    public static ICoherentCacheServiceBuilder AddKeyedCoherentCache(this IServiceCollection services, string name, Action<CoherentCacheBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddKeyedCoherentCache(name, (_, b) => configure(b));
    }

    private static CoherentServiceBuilder Register(IServiceCollection services, string? name, Action<IServiceProvider, CoherentCacheBuilder>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var registrations = Registrations(services);
        var setup = registrations.Find(name);
        if (setup is null)
        {
            setup = new CoherentSetup(name);
            registrations.Setups.Add(setup);
            var captured = setup;
            if (name is null)
            {
                services.TryAddSingleton(sp => CoherentCacheFactory.Create(sp, captured, registrations));
                services.TryAddSingleton<ICoherentCache>(sp => sp.GetRequiredService<CoherentCache>());
            }
            else
            {
                services.TryAddKeyedSingleton(name, (sp, _) => CoherentCacheFactory.Create(sp, captured, registrations));
                services.TryAddKeyedSingleton<ICoherentCache>(name, (sp, key) => sp.GetRequiredKeyedService<CoherentCache>(key));
            }
        }

        if (configure is not null)
        {
            setup.Actions.Add(configure);
        }

        return new CoherentServiceBuilder(services, name);
    }

    /// <summary>The collection's registrations, added on the first call together with the startup check.</summary>
    private static CoherentRegistrations Registrations(IServiceCollection services)
    {
        // Keyed descriptors throw on ImplementationInstance: look at unkeyed ones only.
        if (services.FirstOrDefault(d => !d.IsKeyedService && d.ServiceType == typeof(CoherentRegistrations))?.ImplementationInstance is CoherentRegistrations found)
        {
            return found;
        }

        var registrations = new CoherentRegistrations();
        services.AddSingleton(registrations);
        // ValidateOnStart (Microsoft.Extensions.Options 8+) registers an IStartupValidator the generic host runs on start;
        // validating the marker builds every cache (CoherentStartupValidator), so a bad configuration fails the start.
        services.AddOptions<CoherentStartupCheck>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CoherentStartupCheck>, CoherentStartupValidator>());
        return registrations;
    }
}
