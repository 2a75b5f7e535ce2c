using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// Shared-tier case 1: L2 hit on a fresh node. The key is in Redis and not in the node's L1 on every operation, so each
/// operation is one Redis round trip plus deserialization of the same ~1 KB JSON product. The baseline is the floor: a bare
/// StackExchange.Redis <c>StringGetAsync</c> of the JSON bytes plus <c>JsonSerializer.Deserialize</c>. Each peer runs against
/// its own throwaway redis-server (BenchmarkDotNet runs each case in its own process), on its own connection.
/// </summary>
public class L2HitBenchmarks
{
    private const string Key = "product:42";
    private static readonly HybridCacheEntryOptions HybridSkipLocal = new() { Flags = HybridCacheEntryFlags.DisableLocalCacheRead };
    private static readonly FusionCacheEntryOptions FusionSkipMemory = new FusionCacheEntryOptions { Duration = SharedNodes.Expiry }.SetSkipMemoryCacheRead(true);

    private RedisProcess _server = null!;
    private ConnectionMultiplexer? _connection;
    private IDatabase _db = null!;
    private CoherentCache? _coherent;
    private HybridNode? _hybrid;
    private FusionNode? _fusion;
    private long _factoryRuns;

    [GlobalSetup(Target = nameof(Baseline))]
    public Task SetupBaseline() => StartServerAsync(async endpoint =>
    {
        _connection = SharedNodes.Connect(endpoint);
        _db = _connection.GetDatabase();
        await _db.StringSetAsync("bare:" + Key, Product.Utf8(Product.Sample(42)));
        await EnsureEveryOpReadsRedis(Baseline);
    });

    [GlobalSetup(Target = nameof(Coherent))]
    public Task SetupCoherent() => StartServerAsync(async endpoint =>
    {
        await using (var writer = SharedNodes.Coherent(endpoint, "bench-l2"))
        {
            await writer.SetAsync(Key, Product.Sample(42));
        }

        _coherent = SharedNodes.Coherent(endpoint, "bench-l2");
        await EnsureEveryOpReadsRedis(Coherent);
    });

    [GlobalSetup(Target = nameof(Hybrid))]
    public Task SetupHybrid() => StartServerAsync(async endpoint =>
    {
        await using (var writer = SharedNodes.Hybrid(endpoint, "bench-l2"))
        {
            await writer.Cache.SetAsync(Key, Product.Sample(42));
        }

        _hybrid = SharedNodes.Hybrid(endpoint, "bench-l2");
        await EnsureEveryOpReadsRedis(Hybrid);
    });

    [GlobalSetup(Target = nameof(Fusion))]
    public Task SetupFusion() => StartServerAsync(async endpoint =>
    {
        await using (var writer = SharedNodes.Fusion(endpoint, "bench-l2"))
        {
            await writer.Cache.SetAsync(Key, Product.Sample(42));
        }

        _fusion = SharedNodes.Fusion(endpoint, "bench-l2");
        await EnsureEveryOpReadsRedis(Fusion);
    });

    /// <summary>Starts this case's redis-server, then seeds and opens the peer; a failed setup stops the server itself.</summary>
    private async Task StartServerAsync(Func<string, Task> seedAndOpen)
    {
        _server = await RedisProcess.StartNewAsync();
        try
        {
            await seedAndOpen(_server.Endpoint);
        }
        catch
        {
            await _server.DisposeAsync(); // BenchmarkDotNet skips the cleanup when a setup fails
            throw;
        }
    }

    /// <summary>Guards the case: 20 operations must each make a Redis read (counted by the server) and return the stored product.</summary>
    private async Task EnsureEveryOpReadsRedis(Func<ValueTask<Product>> op)
    {
        Check(await op());
        await using var admin = await ConnectionMultiplexer.ConnectAsync(_server.Endpoint + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var before = await ReadCallsAsync(server);
        for (var i = 0; i < 20; i++)
        {
            Check(await op());
        }

        var reads = await ReadCallsAsync(server) - before;
        if (reads < 20)
        {
            throw new InvalidOperationException($"20 operations made only {reads} Redis reads: not every operation is an L2 read.");
        }
    }

    /// <summary>Calls of the read commands any peer uses (GET, MGET, EVALSHA/EVAL, HGET, HMGET, HGETALL), from INFO commandstats.</summary>
    private static async Task<long> ReadCallsAsync(IServer server)
    {
        string[] reads = ["cmdstat_get", "cmdstat_mget", "cmdstat_evalsha", "cmdstat_eval", "cmdstat_hget", "cmdstat_hmget", "cmdstat_hgetall"];
        var info = await server.InfoAsync("commandstats");
        return info.SelectMany(g => g)
            .Where(p => reads.Contains(p.Key))
            .Sum(p => long.Parse(p.Value.Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    private void Check(Product product)
    {
        if (product.Id != 42 || product.Description.Length < 500 || Interlocked.Read(ref _factoryRuns) != 0)
        {
            throw new InvalidOperationException("The L2 hit path did not return the stored product from Redis.");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (Interlocked.Read(ref _factoryRuns) != 0)
        {
            throw new InvalidOperationException($"A factory ran {_factoryRuns} times: some operations were misses, not L2 hits.");
        }

        if (_coherent is not null)
        {
            await _coherent.DisposeAsync();
        }

        if (_hybrid is not null)
        {
            await _hybrid.DisposeAsync();
        }

        if (_fusion is not null)
        {
            await _fusion.DisposeAsync();
        }

        _connection?.Dispose();
        await _server.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "SE.Redis StringGetAsync + JsonSerializer.Deserialize")]
    public async ValueTask<Product> Baseline()
    {
        var bytes = (byte[]?)await _db.StringGetAsync("bare:" + Key);
        return JsonSerializer.Deserialize<Product>(bytes!, Product.Json)!;
    }

    [Benchmark(Description = "Coherent.GetOrSetAsync (L1 dropped)")]
    public ValueTask<Product> Coherent()
    {
        var cache = _coherent!;
        SharedNodes.DropLocal(cache, Key);
        return cache.GetOrSetAsync(Key, this, static (self, _) => self.Miss());
    }

    [Benchmark(Description = "HybridCache.GetOrCreateAsync (DisableLocalCacheRead)")]
    public ValueTask<Product> Hybrid() => _hybrid!.Cache.GetOrCreateAsync(Key, this, static (self, _) => self.Miss(), HybridSkipLocal);

    [Benchmark(Description = "FusionCache.GetOrSetAsync (SkipMemoryCacheRead)")]
    public ValueTask<Product> Fusion() => _fusion!.Cache.GetOrSetAsync<Product>(Key, (_, _) => Miss().AsTask(), FusionSkipMemory);

    private ValueTask<Product> Miss()
    {
        Interlocked.Increment(ref _factoryRuns);
        return ValueTask.FromResult(Product.Sample(42));
    }
}
