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
/// Case 2: L1 hit on the same 1,000 resident keys from two threads at once. Each invocation runs
/// <see cref="TotalOps"/> reads split evenly over the two threads (released by a start barrier; the second thread starts
/// half-way through the key list), so the mean is wall-clock time per read across both threads: 1 / throughput.
/// Throughput ratio to the dictionary = dictionary mean / peer mean.
/// </summary>
public class HitTwoThreadBenchmarks
{
    public const int KeyCount = HitBenchmarks.KeyCount;
    public const int PassesPerThread = 100;
    public const int TotalOps = KeyCount * PassesPerThread * 2;

    private readonly string[] _keys = Peers.Keys("bench", KeyCount);
    private readonly string[] _values = Peers.Values(KeyCount);
    private readonly TwoThreadRunner _runner = new();
    private ConcurrentDictionary<string, object> _dictionary = null!;
    private MemoryCache _memory = null!;
    private ConcurrentLru<string, string> _lru = null!;
    private ConcurrentTLru<string, string> _tlru = null!;
    private ConcurrentLfu<string, string> _lfu = null!;
    private FusionCache _fusion = null!;
    private HybridCache _hybrid = null!;
    private ServiceProvider _hybridServices = null!;
    private CoherentCache _coherent = null!;
    private Action<int> _dictionaryBody = null!;
    private Action<int> _memoryBody = null!;
    private Action<int> _lruBody = null!;
    private Action<int> _tlruBody = null!;
    private Action<int> _lfuBody = null!;
    private Action<int> _fusionBody = null!;
    private Action<int> _hybridBody = null!;
    private Action<int> _coherentBody = null!;

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
        _dictionaryBody = DictionaryLoop;
        _memoryBody = MemoryLoop;
        _lruBody = LruLoop;
        _tlruBody = TLruLoop;
        _lfuBody = LfuLoop;
        _fusionBody = FusionLoop;
        _hybridBody = HybridLoop;
        _coherentBody = CoherentLoop;
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _runner.Dispose();
        _memory.Dispose();
        _fusion.Dispose();
        await _hybridServices.DisposeAsync();
        await _coherent.DisposeAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = TotalOps, Description = "ConcurrentDictionary.TryGetValue x2")]
    public void Dictionary() => _runner.Run(_dictionaryBody);

    [Benchmark(OperationsPerInvoke = TotalOps, Description = "MemoryCache.TryGetValue x2")]
    public void MemoryCache() => _runner.Run(_memoryBody);

    [Benchmark(OperationsPerInvoke = TotalOps, Description = "BitFaster ConcurrentLru.GetOrAdd x2")]
    public void BitFasterLru() => _runner.Run(_lruBody);

    [Benchmark(OperationsPerInvoke = TotalOps, Description = "BitFaster ConcurrentTLru.GetOrAdd x2")]
    public void BitFasterTLru() => _runner.Run(_tlruBody);

    [Benchmark(OperationsPerInvoke = TotalOps, Description = "BitFaster ConcurrentLfu.GetOrAdd x2")]
    public void BitFasterLfu() => _runner.Run(_lfuBody);

    [Benchmark(OperationsPerInvoke = TotalOps, Description = "FusionCache.GetOrSetAsync x2")]
    public void FusionCache() => _runner.Run(_fusionBody);

    [Benchmark(OperationsPerInvoke = TotalOps, Description = "HybridCache.GetOrCreateAsync x2")]
    public void HybridCache() => _runner.Run(_hybridBody);

    [Benchmark(OperationsPerInvoke = TotalOps, Description = "Coherent.GetOrSetAsync x2")]
    public void Coherent() => _runner.Run(_coherentBody);

    private static int Start(int thread) => thread == 0 ? 0 : KeyCount / 2;

    private void DictionaryLoop(int thread)
    {
        var keys = _keys;
        var dictionary = _dictionary;
        var i = Start(thread);
        for (var n = 0; n < KeyCount * PassesPerThread; n++)
        {
            dictionary.TryGetValue(keys[i], out _);
            if (++i == KeyCount)
            {
                i = 0;
            }
        }
    }

    private void MemoryLoop(int thread)
    {
        var keys = _keys;
        var memory = _memory;
        var i = Start(thread);
        for (var n = 0; n < KeyCount * PassesPerThread; n++)
        {
            memory.TryGetValue(keys[i], out _);
            if (++i == KeyCount)
            {
                i = 0;
            }
        }
    }

    private void LruLoop(int thread)
    {
        var keys = _keys;
        var values = _values;
        var lru = _lru;
        var i = Start(thread);
        for (var n = 0; n < KeyCount * PassesPerThread; n++)
        {
            lru.GetOrAdd(keys[i], static (_, v) => v, values[i]);
            if (++i == KeyCount)
            {
                i = 0;
            }
        }
    }

    private void TLruLoop(int thread)
    {
        var keys = _keys;
        var values = _values;
        var lru = _tlru;
        var i = Start(thread);
        for (var n = 0; n < KeyCount * PassesPerThread; n++)
        {
            lru.GetOrAdd(keys[i], static (_, v) => v, values[i]);
            if (++i == KeyCount)
            {
                i = 0;
            }
        }
    }

    private void LfuLoop(int thread)
    {
        var keys = _keys;
        var values = _values;
        var lfu = _lfu;
        var i = Start(thread);
        for (var n = 0; n < KeyCount * PassesPerThread; n++)
        {
            lfu.GetOrAdd(keys[i], static (_, v) => v, values[i]);
            if (++i == KeyCount)
            {
                i = 0;
            }
        }
    }

    private void FusionLoop(int thread)
    {
        var keys = _keys;
        var fusion = _fusion;
        var i = Start(thread);
        for (var n = 0; n < KeyCount * PassesPerThread; n++)
        {
            Peers.Sync(fusion.GetOrSetAsync<string>(keys[i], static (_, _) => Task.FromResult("miss")));
            if (++i == KeyCount)
            {
                i = 0;
            }
        }
    }

    private void HybridLoop(int thread)
    {
        var keys = _keys;
        var values = _values;
        var hybrid = _hybrid;
        var i = Start(thread);
        for (var n = 0; n < KeyCount * PassesPerThread; n++)
        {
            Peers.Sync(hybrid.GetOrCreateAsync(keys[i], values[i], static (v, _) => new ValueTask<string>(v)));
            if (++i == KeyCount)
            {
                i = 0;
            }
        }
    }

    private void CoherentLoop(int thread)
    {
        var keys = _keys;
        var values = _values;
        var coherent = _coherent;
        var i = Start(thread);
        for (var n = 0; n < KeyCount * PassesPerThread; n++)
        {
            Peers.Sync(coherent.GetOrSetAsync(keys[i], values[i], static (v, _) => new ValueTask<string>(v)));
            if (++i == KeyCount)
            {
                i = 0;
            }
        }
    }
}
