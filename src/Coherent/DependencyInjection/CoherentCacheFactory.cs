using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coherent.DependencyInjection;

/// <summary>Builds a registered cache from the container: time, logging, its configuration section, then the code's actions.</summary>
internal static class CoherentCacheFactory
{
    public const string RootSection = "Coherent";
    public const string CachesSection = "Caches";

    public static CoherentCache Create(IServiceProvider sp, CoherentSetup setup, CoherentRegistrations registrations)
    {
        // Set before FromConfiguration: the reader accepts 'Caches' only in the default cache's section under DI.
        var builder = new CoherentCacheBuilder { ServiceProvider = sp, ServiceKey = setup.Name };
        if (setup.Name is not null)
        {
            builder.WithName(setup.Name);
        }

        if (sp.GetService<TimeProvider>() is { } time)
        {
            builder.WithTimeProvider(time);
        }

        if (sp.GetService<IMeterFactory>() is { } meters)
        {
            builder.MeterFactoryValue = meters;
        }

        if (sp.GetService<ILoggerFactory>() is { } loggers)
        {
            builder.WithLoggerFactory(loggers);
        }

        var configuration = sp.GetService<IConfiguration>();
        if (configuration?.GetSection(SectionPath(setup.Name)) is { } section && section.Exists())
        {
            builder.FromConfiguration(section);
        }

        if (setup.Name is null && configuration is not null)
        {
            // Also at first use, not only at startup: a keyed cache's section with no keyed cache must not be silently ignored.
            var unread = UnregisteredCacheSections(configuration, registrations);
            builder.ExtraValidators.Add(problems => problems.AddRange(unread));
        }

        foreach (var action in setup.Actions)
        {
            action(sp, builder);
        }

        return builder.Build();
    }

    /// <summary>The section a cache reads: <c>Coherent</c> for the default cache, <c>Coherent:Caches:&lt;name&gt;</c> for a keyed one.</summary>
    public static string SectionPath(string? name) => name is null ? RootSection : $"{RootSection}:{CachesSection}:{name}";

    /// <summary>Children of <c>Coherent:Caches</c> that no <c>AddKeyedCoherentCache</c> call registered: read by nothing.</summary>
    public static List<string> UnregisteredCacheSections(IConfiguration configuration, CoherentRegistrations registrations)
    {
        var problems = new List<string>();
        foreach (var child in configuration.GetSection($"{RootSection}:{CachesSection}").GetChildren())
        {
            // Configuration keys are case-insensitive, so is the match; the service key itself is not.
            if (!registrations.Setups.Exists(s => s.Name is not null && s.Name.Equals(child.Key, StringComparison.OrdinalIgnoreCase)))
            {
                var known = registrations.Setups.Where(s => s.Name is not null).Select(s => s.Name).ToList();
                problems.Add($"Configuration: '{child.Path}' configures a keyed cache that is not registered (call services.AddKeyedCoherentCache(\"{child.Key}\", ...)); registered: {(known.Count == 0 ? "none" : string.Join(", ", known))}.");
            }
        }

        return problems;
    }
}
