using System.Collections.Concurrent;
using BitFaster.Caching.Lfu;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;

namespace Coherent.Benchmarks;

/// <summary>The same keys and values for every peer, and each peer built the same way (memory only, 1 hour expiry).</summary>
internal static class Peers
{
    public static readonly TimeSpan Expiry = TimeSpan.FromHours(1);

    /// <summary>Keys <c>bench:0</c> .. <c>bench:{count-1}</c> (family "bench").</summary>
    public static string[] Keys(string prefix, int count) => Enumerable.Range(0, count).Select(i => $"{prefix}:{i}").ToArray();

    public static string[] Values(int count) => Enumerable.Range(0, count).Select(i => $"value-{i}").ToArray();

    public static CoherentCache Coherent(int capacity = CoherentCacheBuilder.DefaultLocalCapacity) => new CoherentCacheBuilder()
        .WithLocalCapacity(capacity)
        .DefaultPolicy(p => p.MaxStaleness(Expiry).Ttl(Expiry))
        .Define("bench", p => p.MaxStaleness(Expiry).Ttl(Expiry))
        .Build();

    public static ConcurrentDictionary<string, object> Dictionary() => new(StringComparer.Ordinal);

    public static MemoryCache MemoryCache(long? sizeLimit = null) => new(new MemoryCacheOptions { SizeLimit = sizeLimit });

    public static ConcurrentLru<string, string> Lru(int capacity) => new(capacity);

    public static ConcurrentTLru<string, string> TLru(int capacity) => new(capacity, Expiry);

    public static ConcurrentLfu<string, string> Lfu(int capacity) => new(capacity);

    public static FusionCache Fusion() => new(new FusionCacheOptions
    {
        DefaultEntryOptions = new FusionCacheEntryOptions { Duration = Expiry },
    });

    public static (HybridCache Cache, ServiceProvider Services) Hybrid()
    {
        var services = new ServiceCollection();
        services.AddHybridCache(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Expiry, LocalCacheExpiration = Expiry });
        var provider = services.BuildServiceProvider();
        return (provider.GetRequiredService<HybridCache>(), provider);
    }

    /// <summary>Result of a ValueTask that normally completed synchronously (hits, synchronous factories).</summary>
    /// <summary>Makes every key resident in every peer (twice, so frequency-based peers admit them) the same way.</summary>
    public static void FillResident(string[] keys, string[] values, ConcurrentDictionary<string, object> dictionary, MemoryCache memory,
        ConcurrentLru<string, string> lru, ConcurrentTLru<string, string> tlru, ConcurrentLfu<string, string> lfu, FusionCache fusion,
        HybridCache hybrid, CoherentCache coherent)
    {
        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < keys.Length; i++)
            {
                var key = keys[i];
                var value = values[i];
                dictionary.TryAdd(key, value);
                memory.Set(key, value, Expiry);
                lru.GetOrAdd(key, static (_, v) => v, value);
                tlru.GetOrAdd(key, static (_, v) => v, value);
                lfu.GetOrAdd(key, static (_, v) => v, value);
                Sync(fusion.GetOrSetAsync<string>(key, (_, _) => Task.FromResult(value)));
                Sync(hybrid.GetOrCreateAsync(key, value, static (v, _) => new ValueTask<string>(v)));
                Sync(coherent.GetOrSetAsync(key, value, static (v, _) => new ValueTask<string>(v)));
            }
        }

        lfu.DoMaintenance();
    }

    public static T Sync<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();
}
