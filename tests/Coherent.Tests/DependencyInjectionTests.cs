using Coherent.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>services.AddCoherentCache / AddKeyedCoherentCache: the builder they return, the provider-aware callback, keyed caches, startup validation.</summary>
public sealed class DependencyInjectionTests
{
    private static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    private sealed record PricingRules(TimeSpan MaxStaleness);

    private sealed class OrdersService([FromKeyedServices("orders")] ICoherentCache cache)
    {
        public ICoherentCache Cache { get; } = cache;
    }

    [Fact]
    public void AddCoherentCache_returns_a_builder_holding_the_service_collection_and_the_cache_name()
    {
        var services = new ServiceCollection();
        var builder = services.AddCoherentCache();
        Assert.Same(services, builder.Services);
        Assert.Null(builder.Name);

        var keyed = services.AddKeyedCoherentCache("orders", b => b.Define("order", p => p.MaxStaleness(TimeSpan.FromSeconds(1))));
        Assert.Same(services, keyed.Services);
        Assert.Equal("orders", keyed.Name);
    }

    [Fact]
    public async Task The_configure_callback_gets_the_service_provider_and_can_use_registered_services()
    {
        var services = new ServiceCollection();
        services.AddSingleton(new PricingRules(TimeSpan.FromSeconds(3)));
        services.AddSingleton<TimeProvider>(T.Clock());
        IServiceProvider? seen = null;
        services.AddCoherentCache((sp, b) =>
        {
            seen = sp;
            b.WithName($"sp-{Guid.NewGuid():N}").Define("price", p => p.MaxStaleness(sp.GetRequiredService<PricingRules>().MaxStaleness));
        });

        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<CoherentCache>();
        Assert.NotNull(seen); // the root scope of the container
        Assert.Equal(TimeSpan.FromSeconds(3), Assert.Single(cache.DescribePolicies().Rows).MaxStaleness);
    }

    [Fact]
    public async Task Keyed_caches_are_independent_instances_with_their_own_names_families_and_entries()
    {
        var time = new FakeTimeProvider(T.Start);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddCoherentCache(b => b.WithName($"default-{Guid.NewGuid():N}").Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5))));
        services.AddKeyedCoherentCache("orders", (_, b) => b.Strict().Define("order", p => p.MaxStaleness(TimeSpan.FromSeconds(1))));
        services.AddKeyedCoherentCache("users", b => b.Define("user", p => p.MaxStaleness(TimeSpan.FromSeconds(30))));
        services.AddKeyedCoherentCache("orders", (_, b) => b.Define("line", p => p.MaxStaleness(TimeSpan.FromSeconds(2)))); // adds to "orders"
        services.AddSingleton<OrdersService>();
        Assert.Single(services, d => d.IsKeyedService && Equals(d.ServiceKey, "orders") && d.ServiceType == typeof(CoherentCache));

        await using var provider = services.BuildServiceProvider();
        var orders = provider.GetRequiredKeyedService<CoherentCache>("orders");
        var users = provider.GetRequiredKeyedService<CoherentCache>("users");
        var main = provider.GetRequiredService<CoherentCache>();
        Assert.Same(orders, provider.GetRequiredKeyedService<ICoherentCache>("orders"));
        Assert.Same(orders, provider.GetRequiredService<OrdersService>().Cache); // [FromKeyedServices("orders")]
        Assert.Equal(3, new HashSet<CoherentCache>([orders, users, main]).Count);

        Assert.Equal("orders", orders.Name);
        Assert.Equal("users", users.Name);
        Assert.Equal(["line", "order"], orders.DescribePolicies().Rows.Select(r => r.Family).Order(StringComparer.Ordinal));
        Assert.True(orders.DescribePolicies().Strict);
        Assert.Equal(["user"], users.DescribePolicies().Rows.Select(r => r.Family));
        Assert.False(users.DescribePolicies().Strict);
        Assert.Equal(["price"], main.DescribePolicies().Rows.Select(r => r.Family));

        // Entries do not leak between caches: the same key is computed once per cache.
        var runs = 0;
        await orders.GetOrSetAsync("order:1", _ => T.Value(++runs), cancellationToken: T.Ct);
        await users.GetOrSetAsync("order:1", _ => T.Value(++runs), cancellationToken: T.Ct);
        await orders.GetOrSetAsync("order:1", _ => T.Value(++runs), cancellationToken: T.Ct);
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task A_keyed_cache_reads_Coherent_Caches_name_and_the_default_cache_reads_Coherent()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(
            ("Coherent:Families:price:MaxStaleness", "00:00:05"),
            ("Coherent:Caches:orders:Families:order:MaxStaleness", "00:00:01"),
            ("Coherent:Caches:orders:Strict", "true"),
            ("Coherent:Caches:orders:Name", "orders-eu")));
        services.AddCoherentCache(b => b.WithName($"default-{Guid.NewGuid():N}"));
        services.AddKeyedCoherentCache("orders");

        await using var provider = services.BuildServiceProvider();
        var orders = provider.GetRequiredKeyedService<CoherentCache>("orders");
        var main = provider.GetRequiredService<CoherentCache>();
        Assert.Equal("orders-eu", orders.Name); // configuration overrides the default name (the key)
        Assert.True(orders.DescribePolicies().Strict);
        Assert.Equal(TimeSpan.FromSeconds(1), Assert.Single(orders.DescribePolicies().Rows, r => r.Family == "order").MaxStaleness);
        Assert.DoesNotContain(orders.DescribePolicies().Rows, r => r.Family == "price");
        Assert.Equal(["price"], main.DescribePolicies().Rows.Select(r => r.Family));
        Assert.False(main.DescribePolicies().Strict);
    }

    [Fact]
    public void Startup_validation_lists_every_problem_of_every_cache_in_one_exception()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(
            ("Coherent:Families:price:Ttl", "ten minutes"),          // unparsable
            ("Coherent:KeyPrefix", "shop"),                          // belongs to Coherent:Redis
            ("Coherent:Redis:KeyPrefix", "shop"),                    // no WithRedis()
            ("Coherent:Bogus", "1"),                                 // unknown
            ("Coherent:Caches:orders:MaxEntries", "many"),           // unparsable, in a keyed cache
            ("Coherent:Caches:ordres:MaxEntries", "10")));           // a typo: no such keyed cache
        services.AddCoherentCache();
        services.AddKeyedCoherentCache("orders", b => b.WithLocalCapacity(0));

        using var provider = services.BuildServiceProvider();
        // What the generic host calls when it starts (registered by ValidateOnStart).
        var ex = Assert.Throws<CoherentConfigurationException>(() => HostStartup.Validate(provider));

        string[] expected =
        [
            "'Coherent:Families:price:Ttl' is not a duration",
            "Family 'price': MaxStaleness is required",
            "'Coherent:KeyPrefix' is not read",
            "'Coherent:Redis' is configured but the cache has no shared tier: call WithRedis()",
            "unknown setting 'Coherent:Bogus'",
            "'Coherent:Caches:ordres' configures a keyed cache that is not registered",
            "Cache 'orders': Configuration: 'Coherent:Caches:orders:MaxEntries' is not an integer",
            "Cache 'orders': Local capacity must be at least 1",
        ];
        foreach (var problem in expected)
        {
            Assert.Contains(ex.Problems, p => p.Contains(problem, StringComparison.Ordinal));
        }

        Assert.True(expected.Length == ex.Problems.Count, string.Join(Environment.NewLine, ex.Problems));
    }

    [Fact]
    public async Task Startup_validation_of_a_valid_configuration_builds_the_caches_it_then_serves()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(("Coherent:Caches:orders:Families:order:MaxStaleness", "00:00:01")));
        var built = 0;
        services.AddKeyedCoherentCache("orders", (_, _) => built++);

        await using var provider = services.BuildServiceProvider();
        HostStartup.Validate(provider);
        Assert.Equal(1, built);
        _ = provider.GetRequiredKeyedService<CoherentCache>("orders");
        Assert.Equal(1, built); // the singleton validated at startup is the one served
    }

    [Fact]
    public void Settings_for_the_default_cache_without_a_default_cache_are_reported_at_startup()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(("Coherent:Families:price:MaxStaleness", "00:00:05"), ("Coherent:Caches:orders:Strict", "true")));
        services.AddKeyedCoherentCache("orders");

        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<CoherentConfigurationException>(() => HostStartup.Validate(provider));
        var problem = Assert.Single(ex.Problems);
        Assert.Contains("'Coherent:Families' configures the default cache, which is not registered", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_section_for_an_unregistered_keyed_cache_is_reported_at_first_use_too()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(("Coherent:Caches:orders:Strict", "true")));
        services.AddCoherentCache();

        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<CoherentConfigurationException>(() => provider.GetRequiredService<CoherentCache>());
        Assert.Contains("'Coherent:Caches:orders' configures a keyed cache that is not registered", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Caches_in_a_section_given_to_a_builder_by_hand_is_reported_as_not_read()
    {
        var config = Config(("Coherent:Caches:orders:Strict", "true"));
        var ex = Assert.Throws<CoherentConfigurationException>(() => T.Builder(T.Clock()).FromConfiguration(config.GetSection("Coherent")).Build());
        Assert.Contains("'Coherent:Caches' is not read here", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("orders:eu")]
    public void A_keyed_cache_name_must_be_a_configuration_key(string name) =>
        Assert.ThrowsAny<ArgumentException>(() => new ServiceCollection().AddKeyedCoherentCache(name));

    [Fact]
    public async Task The_meter_comes_from_a_registered_meter_factory_with_the_library_version()
    {
        var services = new ServiceCollection();
        using var meters = new RecordingMeterFactory();
        services.AddSingleton<System.Diagnostics.Metrics.IMeterFactory>(meters);
        services.AddCoherentCache(b => b.WithName("metered-" + Guid.NewGuid().ToString("N")).Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(1))));
        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<CoherentCache>();

        var meter = Assert.Single(meters.Created);
        Assert.Equal("Coherent", meter.Name);
        Assert.False(string.IsNullOrEmpty(meter.Version));
        Assert.Same(meters, meter.Scope);
        Assert.Contains(meter.Tags ?? [], t => t.Key == "coherent.cache" && Equals(t.Value, cache.Name));

        // The cache's instruments are on that meter.
        using var metrics = new Metrics(cache.Name);
        await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct);
        Assert.Equal(1, metrics.Counter("coherent.requests", "price", "computed"));
        Assert.Same(meter, metrics.MeterOf("coherent.requests"));
    }

    private sealed class RecordingMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        public System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Metrics.Meter> Created { get; } = new();

        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
        {
            var meter = new System.Diagnostics.Metrics.Meter(options.Name, options.Version, options.Tags, scope: this);
            Created.Enqueue(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in Created)
            {
                meter.Dispose();
            }
        }
    }
}
