using Coherent.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coherent;

/// <summary>
/// Coherent's health check: <c>services.AddHealthChecks().AddCoherent()</c> (or <c>AddCoherent("orders")</c> for a keyed
/// cache), or the registration itself, <see cref="Registration"/>, for a builder of one's own.
/// </summary>
public static class CoherentHealthChecks
{
    /// <summary>Adds the check of a registered cache's shared tier (see <see cref="Registration"/>) to the health checks.</summary>
    /// <param name="builder">The application's health checks (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="cacheName">A keyed cache's name (<c>AddKeyedCoherentCache</c>); null for the default cache.</param>
    /// <param name="tags">Tags for filtering the check (<c>MapHealthChecks</c>'s predicate).</param>
    /// <returns>The same builder, for chaining.</returns>
    public static IHealthChecksBuilder AddCoherent(this IHealthChecksBuilder builder, string? cacheName = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(Registration(cacheName, tags));
    }

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
