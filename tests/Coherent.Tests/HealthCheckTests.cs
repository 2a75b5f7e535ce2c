using Coherent.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coherent.Tests;

/// <summary>services.AddHealthChecks().Add(CoherentHealthChecks.Registration()): the shared tier's state as a health status, default and keyed caches.</summary>
public sealed class HealthCheckTests
{
    [Fact]
    public async Task A_cache_without_a_shared_tier_is_healthy_and_a_keyed_check_reads_its_keyed_cache()
    {
        var services = new ServiceCollection();
        services.AddCoherentCache(b => b.Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(1))));
        services.AddKeyedCoherentCache("orders", b => b.Define("order", p => p.MaxStaleness(TimeSpan.FromSeconds(1))));
        HealthCheckRegistration[] registrations = [CoherentHealthChecks.Registration(), CoherentHealthChecks.Registration("orders", ["ready"])];
        await using var provider = services.BuildServiceProvider();

        Assert.Equal(["coherent", "coherent:orders"], registrations.Select(r => r.Name));
        Assert.Contains("ready", registrations[1].Tags);
        var results = new List<HealthCheckResult>();
        foreach (var registration in registrations)
        {
            var check = registration.Factory(provider);
            results.Add(await check.CheckHealthAsync(new HealthCheckContext { Registration = registration }, T.Ct));
        }

        Assert.All(results, r => Assert.Equal(HealthStatus.Healthy, r.Status));
        Assert.Equal("default", results[0].Data["cache"]);
        Assert.Equal("orders", results[1].Data["cache"]);
        Assert.Equal("None", results[1].Data["state"]);
        Assert.Equal(0L, results[1].Data["pendingInvalidations"]);
    }

    [Fact]
    public void A_suspect_bus_or_an_open_breaker_is_degraded_with_the_pending_invalidations()
    {
        Assert.Equal(HealthStatus.Healthy, CoherentHealthCheck.Evaluate("c", SharedTierState.Healthy, 0).Status);

        var suspect = CoherentHealthCheck.Evaluate("c", SharedTierState.Degraded, 3);
        Assert.Equal(HealthStatus.Degraded, suspect.Status);
        Assert.Equal("Degraded", suspect.Data["state"]);
        Assert.Equal(3L, suspect.Data["pendingInvalidations"]);
        Assert.Contains("bus suspect", suspect.Description, StringComparison.Ordinal);

        var open = CoherentHealthCheck.Evaluate("c", SharedTierState.Unavailable, 7);
        Assert.Equal(HealthStatus.Degraded, open.Status);
        Assert.Equal("Unavailable", open.Data["state"]);
        Assert.Contains("circuit open", open.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddCoherent_registers_the_check_through_the_health_check_service()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddCoherentCache(b => b.Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(1))));
        services.AddKeyedCoherentCache("orders", b => b.Define("order", p => p.MaxStaleness(TimeSpan.FromSeconds(1))));
        services.AddHealthChecks().AddCoherent().AddCoherent("orders", ["ready"]);
        await using var provider = services.BuildServiceProvider();

        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(T.Ct);

        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.Equal(["coherent", "coherent:orders"], report.Entries.Keys.Order());
        Assert.Contains("ready", report.Entries["coherent:orders"].Tags);
    }
}
