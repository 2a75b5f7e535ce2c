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
    public static T Sync<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();
}
