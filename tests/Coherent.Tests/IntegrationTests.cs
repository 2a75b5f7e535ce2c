using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

public sealed class IntegrationTests
{
    private static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    [Fact]
    public async Task AddCoherentCache_reads_configuration_takes_TimeProvider_from_DI_and_is_idempotent()
    {
        var time = new FakeTimeProvider(T.Start);
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(Config(("Coherent:Families:price:MaxStaleness", "00:00:05"), ("Coherent:Families:price:Ttl", "00:00:10"), ("Coherent:Families:price:Jitter", "0"), ("Coherent:Strict", "true")));
        services.AddSingleton<TimeProvider>(time);
        services.AddCoherentCache(b => b.WithName($"di-{Guid.NewGuid():N}"));
        services.AddCoherentCache(b => b.Define("stock", p => p.MaxStaleness(TimeSpan.FromSeconds(1))));
        services.AddCoherentCache();
        Assert.Single(services, d => d.ServiceType == typeof(CoherentCache));
        Assert.Single(services, d => d.ServiceType == typeof(ICoherentCache));

        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<CoherentCache>();
        Assert.Same(cache, provider.GetRequiredService<ICoherentCache>());
        Assert.StartsWith("di-", cache.Name, StringComparison.Ordinal);
        Assert.Equal(["price", "stock"], cache.DescribePolicies().Rows.Select(r => r.Family));
        Assert.True(cache.DescribePolicies().Strict);

        // Time comes from the container's FakeTimeProvider: 10 s TTL from configuration.
        var runs = 0;
        await cache.GetOrSetAsync("price:1", _ => T.Value(++runs), cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(9));
        await cache.GetOrSetAsync("price:1", _ => T.Value(++runs), cancellationToken: T.Ct);
        Assert.Equal(1, runs);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, await cache.GetOrSetAsync("price:1", _ => T.Value(++runs), cancellationToken: T.Ct));
    }

    [Fact]
    public void AddCoherentCache_reports_configuration_problems_when_resolved()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(("Coherent:Families:price:Ttl", "00:00:10"), ("Coherent:Bogus", "1")));
        services.AddCoherentCache();
        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<CoherentConfigurationException>(() => provider.GetRequiredService<CoherentCache>());
        Assert.Equal(2, ex.Problems.Count);
    }

    [Fact]
    public async Task Code_written_against_HybridCache_runs_on_Coherent()
    {
        var time = new FakeTimeProvider(T.Start);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddHybridCache(); // Microsoft's own registration, replaced by ours
        services.AddCoherentHybridCache(b => b.WithName($"hybrid-{Guid.NewGuid():N}").Define("product", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(5)).Jitter(0)));
        await using var provider = services.BuildServiceProvider();

        HybridCache hybrid = provider.GetRequiredService<HybridCache>();
        var coherent = provider.GetRequiredService<CoherentCache>();
        Assert.Equal("CoherentHybridCache", hybrid.GetType().Name);

        var runs = 0;
        async ValueTask<string> Load(CancellationToken _) { runs++; await Task.Yield(); return $"v{runs}"; }

        Assert.Equal("v1", await hybrid.GetOrCreateAsync("product:1", Load, tags: ["cat:5"], cancellationToken: T.Ct));
        Assert.Equal("v1", await hybrid.GetOrCreateAsync("product:1", Load, cancellationToken: T.Ct));
        Assert.Equal(1, runs);
        Assert.Equal("v1", (await coherent.TryGetAsync<string>("product:1", T.Ct)).Value);

        await hybrid.SetAsync("product:2", "set", cancellationToken: T.Ct);
        Assert.Equal("set", await hybrid.GetOrCreateAsync("product:2", Load, cancellationToken: T.Ct));

        await hybrid.RemoveAsync("product:2", T.Ct);
        Assert.Equal("v2", await hybrid.GetOrCreateAsync("product:2", Load, cancellationToken: T.Ct));

        await hybrid.RemoveByTagAsync("cat:5", T.Ct);
        Assert.Equal("v3", await hybrid.GetOrCreateAsync("product:1", Load, cancellationToken: T.Ct));

        // Expiration maps to the entry TTL.
        await hybrid.SetAsync("product:3", "short", new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(2) }, cancellationToken: T.Ct);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("v4", await hybrid.GetOrCreateAsync("product:3", Load, cancellationToken: T.Ct));

        // The state overload, and "*" clears everything.
        Assert.Equal(42, await hybrid.GetOrCreateAsync("product:4", 41, static (s, _) => ValueTask.FromResult(s + 1), cancellationToken: T.Ct));
        await hybrid.RemoveByTagAsync("*", T.Ct);
        Assert.False((await coherent.TryGetAsync<int>("product:4", T.Ct)).Found);
        Assert.False((await coherent.TryGetAsync<string>("product:1", T.Ct)).Found);

        // DisableUnderlyingData: a lookup that never runs the factory — the cached value, or default when there is none.
        var lookupOnly = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableUnderlyingData };
        var before = runs;
        Assert.Null(await hybrid.GetOrCreateAsync("product:5", Load, lookupOnly, cancellationToken: T.Ct));
        Assert.Equal(0, await hybrid.GetOrCreateAsync("product:6", 1, static (s, _) => ValueTask.FromResult(s), lookupOnly, cancellationToken: T.Ct));
        await hybrid.SetAsync("product:5", "cached", cancellationToken: T.Ct);
        Assert.Equal("cached", await hybrid.GetOrCreateAsync("product:5", Load, lookupOnly, cancellationToken: T.Ct));
        Assert.Equal(before, runs);
        Assert.False((await coherent.TryGetAsync<int>("product:6", T.Ct)).Found);
    }

    [Fact]
    public async Task HybridCache_local_cache_flags_skip_the_local_tier_for_that_call()
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(new FakeTimeProvider(T.Start));
        services.AddCoherentHybridCache(b => b.WithName($"hybrid-{Guid.NewGuid():N}").Define("product", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(5)).Jitter(0)));
        await using var provider = services.BuildServiceProvider();
        var hybrid = provider.GetRequiredService<HybridCache>();
        var coherent = provider.GetRequiredService<CoherentCache>();
        var runs = 0;
        ValueTask<string> Load(CancellationToken _) => ValueTask.FromResult($"v{++runs}");
        var noLocalRead = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCacheRead };
        var noLocalWrite = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCacheWrite };

        // DisableLocalCacheWrite: computed and returned, not kept; the next plain read computes again, and then keeps it.
        Assert.Equal("v1", await hybrid.GetOrCreateAsync("product:1", Load, noLocalWrite, cancellationToken: T.Ct));
        Assert.False(coherent.Diagnostics.HasLocal("product:1"));
        Assert.Equal("v2", await hybrid.GetOrCreateAsync("product:1", Load, cancellationToken: T.Ct));
        Assert.Equal("v2", await hybrid.GetOrCreateAsync("product:1", Load, cancellationToken: T.Ct));

        // DisableLocalCacheRead: the cached v2 is not served (no shared tier here, so the factory runs); its result is kept.
        Assert.Equal("v3", await hybrid.GetOrCreateAsync("product:1", Load, noLocalRead, cancellationToken: T.Ct));
        Assert.Equal("v3", await hybrid.GetOrCreateAsync("product:1", Load, cancellationToken: T.Ct));
        Assert.Equal(3, runs);

        // A lookup with DisableLocalCacheRead finds nothing without a shared tier, though L1 holds the value.
        var lookupNoLocal = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableUnderlyingData | HybridCacheEntryFlags.DisableLocalCacheRead };
        Assert.Null(await hybrid.GetOrCreateAsync("product:1", Load, lookupNoLocal, cancellationToken: T.Ct));

        // SetAsync with DisableLocalCacheWrite drops the older local value rather than leave it to be served.
        await hybrid.SetAsync("product:2", "old", cancellationToken: T.Ct);
        await hybrid.SetAsync("product:2", "new", noLocalWrite, cancellationToken: T.Ct);
        Assert.False(coherent.Diagnostics.HasLocal("product:2"));
        Assert.Equal("v4", await hybrid.GetOrCreateAsync("product:2", Load, cancellationToken: T.Ct));
    }
}
