using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.Tests;

/// <summary>Keyed registrations (issue 16): AddKeyedCoherentHybridCache as AddKeyedHybridCache.</summary>
public sealed partial class HybridCacheConformanceTests
{
    private sealed class OrdersConsumer([FromKeyedServices("orders")] HybridCache orders)
    {
        public HybridCache Orders { get; } = orders;
    }

    private static ServiceProvider CreateKeyed(string impl)
    {
        var services = new ServiceCollection();
        services.AddHybridCache();
        services.AddKeyedHybridCache("orders", o => o.MaximumKeyLength = 8);
        if (impl == Coherent)
        {
            services.AddCoherentHybridCache(b => b.WithName($"conformance-{Guid.NewGuid():N}"));
            services.AddKeyedCoherentHybridCache("orders");
        }

        services.AddSingleton<OrdersConsumer>();
        return services.BuildServiceProvider();
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_keyed_HybridCache_is_injected_by_FromKeyedServices_as_an_instance_of_its_own(string impl)
    {
        await using var provider = CreateKeyed(impl);
        var orders = provider.GetRequiredService<OrdersConsumer>().Orders;
        var main = provider.GetRequiredService<HybridCache>();
        Assert.NotSame(main, orders);
        Assert.Same(orders, provider.GetRequiredKeyedService<HybridCache>("orders"));

        await orders.SetAsync("order:1", 10, cancellationToken: T.Ct);
        Assert.Equal(10, await orders.GetOrCreateAsync("order:1", _ => ValueTask.FromResult(-1), cancellationToken: T.Ct));

        // A deliberate difference (guide): Microsoft's keyed instances share the container's IMemoryCache, so the default
        // instance sees the keyed one's local entries (observed, 10.11); a keyed Coherent cache has its own L1 and families.
        var seenByDefault = await main.GetOrCreateAsync("order:1", _ => ValueTask.FromResult(-1), cancellationToken: T.Ct);
        if (impl == Coherent)
        {
            Assert.Equal(-1, seenByDefault);
            Assert.Equal(1, provider.GetRequiredKeyedService<CoherentCache>("orders").LocalCount); // served by the keyed Coherent cache
        }
        else
        {
            Assert.Equal(10, seenByDefault);
        }
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_keyed_HybridCache_reads_the_options_named_after_its_key(string impl)
    {
        await using var provider = CreateKeyed(impl);
        var orders = provider.GetRequiredKeyedService<HybridCache>("orders");
        var main = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        ValueTask<int> Load(CancellationToken _) => ValueTask.FromResult(++runs);

        // "orders" allows 8 characters; the default cache keeps HybridCache's 1024.
        Assert.Equal(1, await orders.GetOrCreateAsync("123456789", Load, cancellationToken: T.Ct));
        Assert.Equal(2, await orders.GetOrCreateAsync("123456789", Load, cancellationToken: T.Ct));
        Assert.Equal(3, await main.GetOrCreateAsync("123456789", Load, cancellationToken: T.Ct));
        Assert.Equal(3, await main.GetOrCreateAsync("123456789", Load, cancellationToken: T.Ct));
    }
}
