using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using BitFaster.Caching.Lfu;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;

namespace Coherent.Benchmarks;

/// <summary>
/// Case 3: miss + fill, a new key each operation, through each peer's get-or-create entry point with a synchronous
/// factory. Keys come from a pool of <see cref="PoolSize"/> pre-built strings (no key formatting in the measurement);
/// every cache has room for the whole pool (no eviction), and when the pool wraps the cache is emptied with its own
/// clear operation, whose cost is amortized into the figures (1 clear per 65,536 fills).
/// </summary>
public class MissBenchmarks
{
    public const int PoolSize = 65_536;
    public const int Batch = 1_000;

    private readonly string[] _keys = Peers.Keys("miss", PoolSize);
    private ConcurrentDictionary<string, object> _dictionary = null!;
    private MemoryCache _memory = null!;
    private ConcurrentLru<string, string> _lru = null!;
    private ConcurrentLfu<string, string> _lfu = null!;
    private FusionCache _fusion = null!;
    private HybridCache _hybrid = null!;
    private ServiceProvider _hybridServices = null!;
    private CoherentCache _coherent = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _dictionary = Peers.Dictionary();
        _memory = Peers.MemoryCache();
        _lru = Peers.Lru(PoolSize * 2);
        _lfu = Peers.Lfu(PoolSize * 2);
        _fusion = Peers.Fusion();
        (_hybrid, _hybridServices) = Peers.Hybrid();
        _coherent = Peers.Coherent(PoolSize * 2);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _memory.Dispose();
        _fusion.Dispose();
        await _hybridServices.DisposeAsync();
        await _coherent.DisposeAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch, Description = "ConcurrentDictionary.GetOrAdd")]
    public object? Dictionary()
    {
        object? last = null;
        for (var n = 0; n < Batch; n++)
        {
            if (NextKey(out var key))
            {
                _dictionary.Clear();
            }

            last = _dictionary.GetOrAdd(key, static k => k);
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "MemoryCache.GetOrCreate")]
    public object? MemoryCache()
    {
        object? last = null;
        for (var n = 0; n < Batch; n++)
        {
            if (NextKey(out var key))
            {
                _memory.Clear();
            }

            last = _memory.GetOrCreate(key, static e =>
            {
                e.AbsoluteExpirationRelativeToNow = Peers.Expiry;
                return (string)e.Key;
            });
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "BitFaster ConcurrentLru.GetOrAdd")]
    public string? BitFasterLru()
    {
        string? last = null;
        for (var n = 0; n < Batch; n++)
        {
            if (NextKey(out var key))
            {
                _lru.Clear();
            }

            last = _lru.GetOrAdd(key, static k => k);
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "BitFaster ConcurrentLfu.GetOrAdd")]
    public string? BitFasterLfu()
    {
        string? last = null;
        for (var n = 0; n < Batch; n++)
        {
            if (NextKey(out var key))
            {
                _lfu.Clear();
            }

            last = _lfu.GetOrAdd(key, static k => k);
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "FusionCache.GetOrSetAsync")]
    public string? FusionCache()
    {
        string? last = null;
        for (var n = 0; n < Batch; n++)
        {
            if (NextKey(out var key))
            {
                _fusion.Clear(allowFailSafe: false);
            }

            last = Peers.Sync(_fusion.GetOrSetAsync<string>(key, static (_, _) => Task.FromResult("value")));
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "HybridCache.GetOrCreateAsync")]
    public string? HybridCache()
    {
        string? last = null;
        for (var n = 0; n < Batch; n++)
        {
            if (NextKey(out var key))
            {
                _hybrid.RemoveByTagAsync("*").AsTask().GetAwaiter().GetResult();
            }

            last = Peers.Sync(_hybrid.GetOrCreateAsync(key, key, static (v, _) => new ValueTask<string>(v)));
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "Coherent.GetOrSetAsync")]
    public string? Coherent()
    {
        string? last = null;
        for (var n = 0; n < Batch; n++)
        {
            if (NextKey(out var key))
            {
                _coherent.ClearAsync().AsTask().GetAwaiter().GetResult();
            }

            last = Peers.Sync(_coherent.GetOrSetAsync(key, key, static (v, _) => new ValueTask<string>(v)));
        }

        return last;
    }

    /// <summary>The next pool key; true when the pool wrapped (clear the cache first so the key is a miss again).</summary>
    private bool NextKey(out string key)
    {
        var i = _next;
        _next = i + 1 == PoolSize ? 0 : i + 1;
        key = _keys[i];
        return i == 0;
    }
}
