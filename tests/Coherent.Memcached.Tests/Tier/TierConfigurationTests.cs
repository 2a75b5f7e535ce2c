using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Coherent.Memcached.Tests.Tier;

/// <summary>WithMemcached(...) by hand, under dependency injection and from the 'Coherent:Memcached' configuration section.</summary>
public sealed class TierConfigurationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    private static void Item(CoherentCacheBuilder b) => b.Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(1)));

    [Fact]
    public async Task Every_Coherent_Memcached_setting_is_bound_and_takes_effect()
    {
        await using var s1 = await MemcachedProcess.StartForTestAsync();
        await using var s2 = await MemcachedProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("cfg");
        var secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        var services = new ServiceCollection();
        services.AddSingleton(Config(
            ("Coherent:Families:item:MaxStaleness", "00:00:01"),
            ("Coherent:Families:item:Ttl", "00:01:00"),
            ("Coherent:Memcached:Servers:0", s1.Endpoint),
            ("Coherent:Memcached:Servers:1", s2.Endpoint + "=2"),
            ("Coherent:Memcached:KeyPrefix", prefix),
            ("Coherent:Memcached:SigningKey", secret),
            ("Coherent:Memcached:MaxItemBytes", "65536"),
            ("Coherent:Memcached:OperationTimeout", "00:00:00.250"),
            ("Coherent:Memcached:ConnectTimeout", "00:00:00.500"),
            ("Coherent:Memcached:PoolSize", "3"),
            ("Coherent:Memcached:BreakerFailureThreshold", "4"),
            ("Coherent:Memcached:ProbeInterval", "00:00:00.300"),
            ("Coherent:Memcached:FlushOnReadmit", "false"),
            ("Coherent:Memcached:RetryInterval", "00:00:00.150"),
            ("Coherent:Memcached:MaxPendingInvalidations", "7"),
            ("Coherent:Memcached:MaxKeysPerBatch", "40"),
            ("Coherent:Memcached:VersionedFamilies", "item"),
            ("Coherent:Memcached:OldVersionGrace", "00:00:03")));
        services.AddCoherentCache(b => b.WithMemcached());

        await using var provider = services.BuildServiceProvider();
        var problems = Record.Exception(() => HostStartup.Validate(provider)) as CoherentConfigurationException;
        Assert.True(problems is null, string.Join("\n", problems?.Problems ?? []));
        var cache = provider.GetRequiredService<CoherentCache>();
        Assert.True(cache.HasSharedTier);
        Assert.Equal("a", await cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("a"), cancellationToken: Ct));
        var tier = cache.Diagnostics.SharedTierAs<MemcachedTier>();
        Assert.Equal(65536, tier.Store.MaxItemBytes);
        var settings = tier.Store.Cluster.Settings;
        Assert.Equal(TimeSpan.FromMilliseconds(250), settings.OperationTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(500), settings.ConnectTimeout);
        Assert.Equal(3, settings.PoolSize);
        Assert.Equal(4, settings.BreakerFailureThreshold);
        Assert.Equal(TimeSpan.FromMilliseconds(300), settings.ProbeInterval);
        Assert.Equal(40, settings.MaxKeysPerBatch);
        Assert.Equal([1, 2], tier.Store.Cluster.Servers.Select(s => s.Address.Weight));
        Assert.Equal(prefix, tier.Options.KeyPrefix);
        Assert.False(tier.Options.FlushOnReadmit);
        Assert.Equal(TimeSpan.FromMilliseconds(150), tier.Options.RetryInterval);
        Assert.Equal(7, tier.Options.MaxPendingInvalidations);
        Assert.Equal(["item"], tier.Options.VersionedFamilies);
        Assert.Equal(TimeSpan.FromSeconds(3), tier.Options.OldVersionGrace);

        // Signed: an entry written without the key is refused by this cache.
        await using var unsigned = new CoherentCacheBuilder().Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(1)))
            .WithMemcached($"{s1.Endpoint},{s2.Endpoint}=2", o => o.KeyPrefix = prefix).Build();
        Assert.Equal("u", await unsigned.GetOrSetAsync("item:2", _ => ValueTask.FromResult("u"), cancellationToken: Ct));
        Assert.Equal("s", await cache.GetOrSetAsync("item:2", _ => ValueTask.FromResult("s"), cancellationToken: Ct));
    }

    [Fact]
    public async Task Keyed_caches_get_their_own_key_prefix_by_default()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        var services = new ServiceCollection();
        services.AddSingleton(Config(("Coherent:Caches:users:Memcached:Servers", server.Endpoint)));
        services.AddKeyedCoherentCache("orders", b => { Item(b); b.WithMemcached(server.Endpoint); });
        services.AddKeyedCoherentCache("users", b => { Item(b); b.WithMemcached(); });

        await using var provider = services.BuildServiceProvider();
        HostStartup.Validate(provider);
        var orders = provider.GetRequiredKeyedService<CoherentCache>("orders");
        var users = provider.GetRequiredKeyedService<CoherentCache>("users");
        Assert.Equal("orders", await orders.GetOrSetAsync("item:1", _ => ValueTask.FromResult("orders"), cancellationToken: Ct));
        Assert.Equal("users", await users.GetOrSetAsync("item:1", _ => ValueTask.FromResult("users"), cancellationToken: Ct));
        Assert.Equal("orders", orders.Diagnostics.SharedTierAs<MemcachedTier>().Options.KeyPrefix);
        Assert.Equal("users", users.Diagnostics.SharedTierAs<MemcachedTier>().Options.KeyPrefix);
    }

    [Fact]
    public void Every_bad_Memcached_setting_is_listed_in_one_exception_at_startup()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(
            ("Coherent:Memcached:Servers", "127.0.0.1:1,nohost,127.0.0.1:99999"),
            ("Coherent:Memcached:SigningKey", "not base64!"),
            ("Coherent:Memcached:OperationTimeout", "soon"),
            ("Coherent:Memcached:ProbeInterval", "00:00:00"),
            ("Coherent:Memcached:PoolSize", "0"),
            ("Coherent:Memcached:FlushOnReadmit", "maybe"),
            ("Coherent:Memcached:KeyPrfix", "typo")));
        services.AddCoherentCache(b => b.WithMemcached());
        services.AddKeyedCoherentCache("orders", b => b.WithMemcached()); // no servers anywhere

        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<CoherentConfigurationException>(() => HostStartup.Validate(provider));
        string[] expected =
        [
            "'nohost' is not host:port",
            "the port '99999' is not a number",
            "'Coherent:Memcached:SigningKey' is not base64",
            "'Coherent:Memcached:OperationTimeout' is not a duration",
            "Memcached ProbeInterval must be positive",
            "Memcached PoolSize must be between 1 and 64",
            "'Coherent:Memcached:FlushOnReadmit' must be true or false",
            "unknown setting 'Coherent:Memcached:KeyPrfix'",
            "WithMemcached() has no servers",
        ];
        foreach (var problem in expected)
        {
            Assert.Contains(ex.Problems, p => p.Contains(problem, StringComparison.Ordinal));
        }

        Assert.DoesNotContain(ex.Problems, p => p.Contains("not base64!", StringComparison.Ordinal)); // a secret is never echoed
    }

    [Fact]
    public void Servers_given_both_in_code_and_in_configuration_is_a_reported_problem()
    {
        var options = new CoherentMemcachedOptions { Servers = "127.0.0.1:11211" };
        var config = Config(("Coherent:Memcached:Servers", "127.0.0.1:11212"));
        var fromString = Assert.Throws<CoherentConfigurationException>(() => new CoherentCacheBuilder().FromConfiguration(config.GetSection("Coherent")).WithMemcached("127.0.0.1:11213").Build());
        Assert.Contains(fromString.Problems, p => p.Contains("was given servers in code", StringComparison.Ordinal));
        var fromOptions = Assert.Throws<CoherentConfigurationException>(() => new CoherentCacheBuilder().FromConfiguration(config.GetSection("Coherent")).WithMemcached(options).Build());
        Assert.Contains(fromOptions.Problems, p => p.Contains("was given an options object in code", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_server_down_at_build_time_is_no_error_and_reads_run_on_the_factory()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await using var cache = new CoherentCacheBuilder()
            .WithMemcached(new CoherentMemcachedOptions { Servers = $"127.0.0.1:{Ports.Free()}", ConnectTimeout = TimeSpan.FromMilliseconds(300), OperationTimeout = TimeSpan.FromMilliseconds(300) })
            .Build();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"Build blocked {watch.Elapsed}");
        Assert.Equal(3, await cache.GetOrSetAsync("k", _ => ValueTask.FromResult(3), cancellationToken: Ct));
    }
}
