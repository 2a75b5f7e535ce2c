using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Coherent.DependencyInjection;

/// <summary>The options type whose <c>ValidateOnStart</c> makes the host build every registered cache when it starts.</summary>
internal sealed class CoherentStartupCheck;

/// <summary>
/// Run by the host's <c>IStartupValidator</c> when it starts (the generic host calls it before any hosted service). Builds
/// every registered cache, default and keyed, through the container, so the instances validated are the ones later served,
/// and throws one <see cref="CoherentConfigurationException"/> listing every problem of every cache. It throws that typed
/// exception rather than returning a failed <see cref="ValidateOptionsResult"/>, so that a start fails with the same
/// exception (and <see cref="CoherentConfigurationException.Problems"/>) as a cache built by hand.
/// </summary>
internal sealed class CoherentStartupValidator(IServiceProvider services, CoherentRegistrations registrations) : IValidateOptions<CoherentStartupCheck>
{
    public ValidateOptionsResult Validate(string? name, CoherentStartupCheck options)
    {
        var problems = new List<string>();
        foreach (var setup in registrations.Setups)
        {
            try
            {
                _ = setup.Name is null ? services.GetRequiredService<CoherentCache>() : services.GetRequiredKeyedService<CoherentCache>(setup.Name);
            }
            catch (CoherentConfigurationException ex)
            {
                problems.AddRange(setup.Name is null ? ex.Problems : ex.Problems.Select(p => $"Cache '{setup.Name}': {p}"));
            }
        }

        if (registrations.Find(null) is null && services.GetService<IConfiguration>() is { } configuration)
        {
            // Without a default cache, nothing reads the root section: the keyed-cache check and its other keys are ours.
            problems.AddRange(CoherentCacheFactory.UnregisteredCacheSections(configuration, registrations));
            foreach (var child in configuration.GetSection(CoherentCacheFactory.RootSection).GetChildren())
            {
                if (!child.Key.Equals(CoherentCacheFactory.CachesSection, StringComparison.OrdinalIgnoreCase))
                {
                    problems.Add($"Configuration: '{child.Path}' configures the default cache, which is not registered (call services.AddCoherentCache(...), or move it under 'Coherent:Caches:<name>').");
                }
            }
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : throw new CoherentConfigurationException(problems);
    }
}
