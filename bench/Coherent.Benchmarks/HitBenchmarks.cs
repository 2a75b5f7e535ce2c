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
/// Case 1: L1 hit on 1,000 resident keys, one thread. Each invocation reads every key once (1,000 operations), so the
/// figures are per read. Every peer goes through its get-or-create entry point where it has one (the hit path of it).
/// </summary>
public class HitBenchmarks
{
    public const int KeyCount = 1_000;

    private readonly string[] _keys = Peers.Keys("bench", KeyCount);
    private readonly string[] _values = Peers.Values(KeyCount);
    private ConcurrentDictionary<string, object> _dictionary = null!;
    private MemoryCache _memory = null!;
    private ConcurrentLru<string, string> _lru = null!;
    private ConcurrentTLru<string, string> _tlru = null!;
    private ConcurrentLfu<string, string> _lfu = null!;
    private FusionCache _fusion = null!;
    private HybridCache _hybrid = null!;
    private ServiceProvider _hybridServices = null!;
    private CoherentCache _coherent = null!;

    [GlobalSetup]
    public void Setup()
    {
        _dictionary = Peers.Dictionary();
        _memory = Peers.MemoryCache();
        _lru = Peers.Lru(KeyCount * 2);
        _tlru = Peers.TLru(KeyCount * 2);
        _lfu = Peers.Lfu(KeyCount * 2);
        _fusion = Peers.Fusion();
        (_hybrid, _hybridServices) = Peers.Hybrid();
        _coherent = Peers.Coherent();
        Peers.FillResident(_keys, _values, _dictionary, _memory, _lru, _tlru, _lfu, _fusion, _hybrid, _coherent);
        if (Peers.Sync(_coherent.GetOrSetAsync(_keys[0], "miss", static (v, _) => new ValueTask<string>(v))) != _values[0])
        {
            throw new InvalidOperationException("Coherent did not keep the resident keys.");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _memory.Dispose();
        _fusion.Dispose();
        await _hybridServices.DisposeAsync();
        await _coherent.DisposeAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = KeyCount, Description = "ConcurrentDictionary.TryGetValue")]
    public object? Dictionary()
    {
        object? last = null;
        var keys = _keys;
        for (var i = 0; i < keys.Length; i++)
        {
            _dictionary.TryGetValue(keys[i], out last);
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = KeyCount, Description = "MemoryCache.TryGetValue")]
    public object? MemoryCache()
    {
        object? last = null;
        var keys = _keys;
        for (var i = 0; i < keys.Length; i++)
        {
            _memory.TryGetValue(keys[i], out last);
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = KeyCount, Description = "BitFaster ConcurrentLru.GetOrAdd")]
    public string? BitFasterLru()
    {
        string? last = null;
        var keys = _keys;
        var values = _values;
        for (var i = 0; i < keys.Length; i++)
        {
            last = _lru.GetOrAdd(keys[i], static (_, v) => v, values[i]);
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = KeyCount, Description = "BitFaster ConcurrentTLru.GetOrAdd")]
    public string? BitFasterTLru()
    {
        string? last = null;
        var keys = _keys;
        var values = _values;
        for (var i = 0; i < keys.Length; i++)
        {
            last = _tlru.GetOrAdd(keys[i], static (_, v) => v, values[i]);
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = KeyCount, Description = "BitFaster ConcurrentLfu.GetOrAdd")]
    public string? BitFasterLfu()
    {
        string? last = null;
        var keys = _keys;
        var values = _values;
        for (var i = 0; i < keys.Length; i++)
        {
            last = _lfu.GetOrAdd(keys[i], static (_, v) => v, values[i]);
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = KeyCount, Description = "FusionCache.GetOrSetAsync")]
    public string? FusionCache()
    {
        string? last = null;
        var keys = _keys;
        for (var i = 0; i < keys.Length; i++)
        {
            last = Peers.Sync(_fusion.GetOrSetAsync<string>(keys[i], static (_, _) => Task.FromResult("miss")));
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = KeyCount, Description = "HybridCache.GetOrCreateAsync")]
    public string? HybridCache()
    {
        string? last = null;
        var keys = _keys;
        var values = _values;
        for (var i = 0; i < keys.Length; i++)
        {
            last = Peers.Sync(_hybrid.GetOrCreateAsync(keys[i], values[i], static (v, _) => new ValueTask<string>(v)));
        }

        return last;
    }

    [Benchmark(OperationsPerInvoke = KeyCount, Description = "Coherent.GetOrSetAsync")]
    public string? Coherent()
    {
        string? last = null;
        var keys = _keys;
        var values = _values;
        for (var i = 0; i < keys.Length; i++)
        {
            last = Peers.Sync(_coherent.GetOrSetAsync(keys[i], values[i], static (v, _) => new ValueTask<string>(v)));
        }

        return last;
    }
}
