using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coherent.DependencyInjection;

/// <summary>
/// Healthy with a working shared tier or none configured; Degraded while the bus is suspect or the breaker is open. Never
/// Unhealthy: the cache keeps serving from L1 and factories, within MaxStaleness, so the app itself is not down.
/// </summary>
internal sealed class CoherentHealthCheck(CoherentCache cache) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Evaluate(cache.Name, cache.SharedTierState, cache.PendingInvalidations));

    /// <summary>The result for a state; apart from the cache so that every state can be tested without breaking a Redis.</summary>
    public static HealthCheckResult Evaluate(string cacheName, SharedTierState state, long pendingInvalidations)
    {
        var data = new Dictionary<string, object>
        {
            ["cache"] = cacheName,
            ["state"] = state.ToString(),
            ["pendingInvalidations"] = pendingInvalidations,
        };
        return state switch
        {
            SharedTierState.None => HealthCheckResult.Healthy("single node (no shared tier)", data),
            SharedTierState.Healthy => HealthCheckResult.Healthy("shared tier and bus healthy", data),
            SharedTierState.Degraded => HealthCheckResult.Degraded($"invalidation bus suspect: local values are served only within MaxStaleness; {pendingInvalidations} invalidations pending", data: data),
            _ => HealthCheckResult.Degraded($"shared tier unavailable (circuit open): serving from L1 and factories; {pendingInvalidations} invalidations pending", data: data),
        };
    }
}
