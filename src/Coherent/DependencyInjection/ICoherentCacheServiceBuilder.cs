using Microsoft.Extensions.DependencyInjection;

namespace Coherent;

/// <summary>
/// What <c>services.AddCoherentCache(...)</c> and <c>services.AddKeyedCoherentCache(...)</c> return, after the convention of
/// <c>AddHybridCache</c> (which returns <c>IHybridCacheBuilder</c>): the service collection, to go on registering, and the
/// cache it describes, for extensions that add to one cache (health checks, instrumentation).
/// </summary>
public interface ICoherentCacheServiceBuilder
{
    /// <summary>The service collection the cache is registered in.</summary>
    IServiceCollection Services { get; }

    /// <summary>The service key of a keyed cache (<c>AddKeyedCoherentCache</c>), or null for the container's default cache.</summary>
    string? Name { get; }
}
