using Coherent.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent;

/// <summary>Finds the caches a container registered, for tools that show or check all of them (a diagnostics page).</summary>
public static class CoherentServiceProviderExtensions
{
    /// <summary>
    /// Every cache registered with <c>AddCoherentCache</c> and <c>AddKeyedCoherentCache</c>, built if not yet built: the
    /// default cache first, then the keyed ones in the order they were registered. Empty when none was registered.
    /// </summary>
    /// <param name="services">The application's container.</param>
    /// <returns>The caches, each with its service key (null for the default cache).</returns>
    public static IReadOnlyList<(string? ServiceKey, CoherentCache Cache)> GetCoherentCaches(this IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.GetService<CoherentRegistrations>() is not { } registrations)
        {
            return [];
        }

        return registrations.Setups
            .OrderBy(s => s.Name is null ? 0 : 1)
            .Select(s => (s.Name, s.Name is null ? services.GetRequiredService<CoherentCache>() : services.GetRequiredKeyedService<CoherentCache>(s.Name)))
            .ToList();
    }
}
