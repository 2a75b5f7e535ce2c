using Coherent.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coherent;

/// <summary>
/// Coherent's health check, registered with <c>services.AddHealthChecks().Add(CoherentHealthChecks.Registration())</c>.
/// A registration rather than an <c>AddCoherent()</c> extension of <c>IHealthChecksBuilder</c>: that interface lives in the
/// Microsoft.Extensions.Diagnostics.HealthChecks package, which the library does not depend on (only on its abstractions).
/// </summary>
public static class CoherentHealthChecks
{
    /// <summary>
    /// A check of a registered cache's shared tier: Healthy when the shared tier is healthy or absent, Degraded while the
    /// invalidation bus is suspect (<see cref="SharedTierState.Degraded"/>) or the circuit breaker is open
    /// (<see cref="SharedTierState.Unavailable"/>); never Unhealthy, since the cache goes on serving. Its data holds the
    /// cache's name (<c>cache</c>), the state (<c>state</c>) and the invalidations not yet applied (<c>pendingInvalidations</c>).
    /// </summary>
    /// <param name="cacheName">A keyed cache's name (<c>AddKeyedCoherentCache</c>); null for the default cache.</param>
    /// <param name="tags">Tags for filtering the check (<c>MapHealthChecks</c>'s predicate).</param>
    /// <returns>The registration, named <c>coherent</c>, or <c>coherent:&lt;cacheName&gt;</c> for a keyed cache.</returns>
    public static HealthCheckRegistration Registration(string? cacheName = null, IEnumerable<string>? tags = null) => new(
        cacheName is null ? "coherent" : $"coherent:{cacheName}",
        sp => new CoherentHealthCheck(cacheName is null ? sp.GetRequiredService<CoherentCache>() : sp.GetRequiredKeyedService<CoherentCache>(cacheName)),
        failureStatus: null,
        tags);
}
