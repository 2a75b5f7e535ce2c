using Coherent.Testing;
using Coherent.Redis.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Coherent.Redis.Tests;

/// <summary>WithRedis() under dependency injection and the 'Coherent:Redis' configuration section, against a real redis-server.</summary>
[Collection(RedisCollection.Name)]
public sealed class DependencyInjectionRedisTests(SharedRedis redis)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Unique(string name) => name + Guid.NewGuid().ToString("N")[..8];

    private static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    private static void Item(CoherentCacheBuilder b) => b.Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(1)));

    private async Task<string[]> KeysAsync(string prefix) =>
        ((RedisResult[])(await redis.Require().ExecAsync("KEYS", prefix + ":*"))!).Select(k => (string)k!).ToArray();

    private async Task<string> ClientListAsync() => (string)(await redis.Require().ExecAsync("CLIENT", "LIST"))!;

    [Fact]
    public async Task WithRedis_without_arguments_reuses_the_containers_connection_and_never_disposes_it()
    {
        var server = redis.Require();
        var prefix = Unique("di");
        var name = Unique("reuse");
        await using var connection = await server.ConnectAsync();
        var services = new ServiceCollection();
        services.AddSingleton<IConnectionMultiplexer>(connection); // an instance: the container does not dispose it either
        services.AddCoherentCache((_, b) => { Item(b); b.WithName(name).WithRedis(o => o.KeyPrefix = prefix); });

        await using (var provider = services.BuildServiceProvider())
        {
            var cache = provider.GetRequiredService<CoherentCache>();
            Assert.True(cache.HasSharedTier);
            Assert.Equal("a", await cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("a"), cancellationToken: Ct));
            Assert.NotEmpty(await KeysAsync(prefix));
            // Coherent names the connections it opens "coherent-<cache>": none was opened.
            Assert.DoesNotContain("name=coherent-" + name, await ClientListAsync(), StringComparison.Ordinal);
        }

        // The cache was disposed with the container; the application's connection still works.
        Assert.True(connection.IsConnected);
        await connection.GetDatabase().PingAsync();
    }

    [Fact]
    public async Task Coherent_Redis_configuration_binds_the_connection_string_prefix_signing_key_and_timeouts()
    {
        var server = redis.Require();
        var prefix = Unique("cfg");
        var name = Unique("bound");
        var key = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        var services = new ServiceCollection();
        services.AddSingleton(Config(
            ("Coherent:Name", name),
            ("Coherent:Families:item:MaxStaleness", "00:00:01"),
            ("Coherent:Families:item:Ttl", "00:01:00"),
            ("Coherent:Redis:Configuration", server.Endpoint),
            ("Coherent:Redis:KeyPrefix", prefix),
            ("Coherent:Redis:SigningKey", key),
            ("Coherent:Redis:OperationTimeout", "00:00:01"),
            ("Coherent:Redis:HeartbeatInterval", "00:00:00.200"),
            ("Coherent:Redis:VersionedFamilies:0", "item")));
        services.AddCoherentCache(b => b.WithRedis());

        await using var provider = services.BuildServiceProvider();
        HostStartup.Validate(provider);
        var cache = provider.GetRequiredService<CoherentCache>();
        Assert.True(cache.HasSharedTier);
        Assert.Equal("a", await cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("a"), cancellationToken: Ct));
        Assert.NotEmpty(await KeysAsync(prefix));
        Assert.Contains("name=coherent-" + name, await ClientListAsync(), StringComparison.Ordinal); // its own connection, from the string

        // The signing key was bound: a node with the same key reads the entry from L2, a node with another key refuses it.
        CoherentCache Node(byte[] signingKey) => new CoherentCacheBuilder()
            .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(1)))
            .WithRedis(server.Endpoint, o => { o.KeyPrefix = prefix; o.SigningKey = signingKey; o.VersionedFamilies.Add("item"); })
            .Build();
        await using var same = Node(Convert.FromBase64String(key));
        await using var other = Node(Enumerable.Repeat((byte)7, 32).ToArray());
        Assert.Equal("a", await same.GetOrSetAsync("item:1", _ => ValueTask.FromResult("same"), cancellationToken: Ct));
        Assert.Equal("other", await other.GetOrSetAsync("item:1", _ => ValueTask.FromResult("other"), cancellationToken: Ct));
    }

    [Fact]
    public async Task Keyed_caches_on_one_server_use_their_name_as_key_prefix_and_never_share_entries()
    {
        var server = redis.Require();
        var orders = Unique("orders");
        var users = Unique("users");
        var explicitPrefix = Unique("set");
        await using var connection = await server.ConnectAsync();
        var services = new ServiceCollection();
        services.AddSingleton<IConnectionMultiplexer>(connection);
        services.AddSingleton(Config(($"Coherent:Caches:{users}:Redis:KeyPrefix", explicitPrefix)));
        services.AddKeyedCoherentCache(orders, b => { Item(b); b.WithRedis(); });
        services.AddKeyedCoherentCache(users, b => { Item(b); b.WithRedis(); });

        await using var provider = services.BuildServiceProvider();
        HostStartup.Validate(provider);
        var a = provider.GetRequiredKeyedService<CoherentCache>(orders);
        var b = provider.GetRequiredKeyedService<CoherentCache>(users);
        Assert.Equal("orders", await a.GetOrSetAsync("item:1", _ => ValueTask.FromResult("orders"), cancellationToken: Ct));
        Assert.Equal("users", await b.GetOrSetAsync("item:1", _ => ValueTask.FromResult("users"), cancellationToken: Ct));
        Assert.NotEmpty(await KeysAsync(orders));          // default prefix: the cache's name
        Assert.NotEmpty(await KeysAsync(explicitPrefix));  // unless set, here in Coherent:Caches:<name>:Redis:KeyPrefix
        Assert.Empty(await KeysAsync(users));
    }

    [Fact]
    public void Every_bad_Redis_setting_of_every_cache_is_listed_in_one_exception_at_startup()
    {
        const string secret = "not base64!";
        var services = new ServiceCollection();
        services.AddSingleton(Config(
            ("Coherent:Families:item:MaxStaleness", "00:00:01"),
            ("Coherent:Redis:Configuration", "127.0.0.1:1"),
            ("Coherent:Redis:SigningKey", secret),
            ("Coherent:Redis:OperationTimeout", "soon"),
            ("Coherent:Redis:HeartbeatInterval", "00:00:00"),
            ("Coherent:Redis:KeyPrfix", "typo"),
            ("Coherent:Redis:MaxKeysPerBatch", "20000"),
            ("Coherent:Caches:orders:Families:item:MaxStaleness", "00:00:01")));
        services.AddCoherentCache(b => b.WithRedis("127.0.0.1:2")); // and a connection in code too
        services.AddKeyedCoherentCache("orders", b => b.WithRedis()); // no connection anywhere

        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<CoherentConfigurationException>(() => HostStartup.Validate(provider));
        string[] expected =
        [
            "'Coherent:Redis:SigningKey' is not base64",
            "'Coherent:Redis:OperationTimeout' is not a duration",
            "Redis HeartbeatInterval must be positive",
            "unknown setting 'Coherent:Redis:KeyPrfix'",
            "Redis MaxKeysPerBatch must be between 1 and 10,000; got 20000",
            "'Coherent:Redis:Configuration' is set but WithRedis(...) was given a connection in code",
            "Cache 'orders': WithRedis() has no connection: 'Coherent:Caches:orders:Redis:Configuration' is not set and no IConnectionMultiplexer is registered",
        ];
        foreach (var problem in expected)
        {
            Assert.Contains(ex.Problems, p => p.Contains(problem, StringComparison.Ordinal));
        }

        Assert.True(expected.Length == ex.Problems.Count, string.Join(Environment.NewLine, ex.Problems));
        Assert.DoesNotContain(secret, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WithRedis_without_a_connection_outside_dependency_injection_says_what_to_do()
    {
        var ex = Assert.Throws<CoherentConfigurationException>(() => new CoherentCacheBuilder().WithRedis().Build());
        Assert.Contains("not built through dependency injection", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void A_connection_string_as_the_value_of_Coherent_Redis_is_reported_with_where_it_goes()
    {
        var config = Config(("Coherent:Redis", "127.0.0.1:6379"));
        var ex = Assert.Throws<CoherentConfigurationException>(() => new CoherentCacheBuilder().FromConfiguration(config.GetSection("Coherent")).WithRedis().Build());
        Assert.Contains(ex.Problems, p => p.Contains("put the connection string in 'Coherent:Redis:Configuration'", StringComparison.Ordinal));
    }
}
