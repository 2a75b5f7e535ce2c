using Microsoft.Extensions.DependencyInjection;

namespace Coherent.DependencyInjection;

/// <summary>One registered cache: its service key and the configure actions of every call that named it, applied in order when it is built.</summary>
internal sealed class CoherentSetup(string? name)
{
    public string? Name { get; } = name;

    public List<Action<IServiceProvider, CoherentCacheBuilder>> Actions { get; } = [];
}

/// <summary>
/// Every cache registered in one service collection, kept as an instance in the collection itself so that a second call
/// finds the first (registration is idempotent) and the startup check knows every cache to validate.
/// </summary>
internal sealed class CoherentRegistrations
{
    public List<CoherentSetup> Setups { get; } = [];

    public CoherentSetup? Find(string? name) => Setups.Find(s => string.Equals(s.Name, name, StringComparison.Ordinal));
}

/// <summary>The builder returned by the registration methods.</summary>
internal sealed class CoherentServiceBuilder(IServiceCollection services, string? name) : ICoherentCacheServiceBuilder
{
    public IServiceCollection Services { get; } = services;

    public string? Name { get; } = name;
}
