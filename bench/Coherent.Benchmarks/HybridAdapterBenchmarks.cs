using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.Benchmarks;

/// <summary>
/// The L1 hit through Coherent's HybridCache adapter against Coherent's own <c>GetOrSetAsync</c> hit, on the same cache
/// instance (the one behind the adapter), 1,000 resident keys, one thread, string values (immutable: shared, no copy).
/// Target (issue 16): the adapter within 1.2× of the baseline in the same run.
/// </summary>
public class HybridAdapterBenchmarks
{
    private readonly string[] _keys = Peers.Keys("bench", HitBenchmarks.KeyCount);
    private readonly string[] _values = Peers.Values(HitBenchmarks.KeyCount);
    private ServiceProvider _services = null!;
    private CoherentCache _coherent = null!;
    private HybridCache _adapter = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddCoherentHybridCache(b => b
            .DefaultPolicy(p => p.MaxStaleness(Peers.Expiry).Ttl(Peers.Expiry))
            .Define("bench", p => p.MaxStaleness(Peers.Expiry).Ttl(Peers.Expiry)));
        _services = services.BuildServiceProvider();
        _coherent = _services.GetRequiredService<CoherentCache>();
        _adapter = _services.GetRequiredService<HybridCache>();
        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < _keys.Length; i++)
            {
                Peers.Sync(_coherent.GetOrSetAsync(_keys[i], _values[i], static (v, _) => new ValueTask<string>(v)));
            }
        }

        if (Peers.Sync(_adapter.GetOrCreateAsync(_keys[0], "miss", static (v, _) => new ValueTask<string>(v))) != _values[0])
        {
            throw new InvalidOperationException("The adapter does not see the resident keys.");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup() => await _services.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = HitBenchmarks.KeyCount, Description = "Coherent.GetOrSetAsync")]
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

    [Benchmark(OperationsPerInvoke = HitBenchmarks.KeyCount, Description = "Coherent HybridCache adapter GetOrCreateAsync")]
    public string? Adapter()
    {
        string? last = null;
        var keys = _keys;
        var values = _values;
        for (var i = 0; i < keys.Length; i++)
        {
            last = Peers.Sync(_adapter.GetOrCreateAsync(keys[i], values[i], static (v, _) => new ValueTask<string>(v)));
        }

        return last;
    }
}

/// <summary>
/// The floor any HybridCache implementation pays on this call: <c>GetOrCreateAsync&lt;TState, T&gt;</c> is a generic
/// virtual method, dispatched through the runtime's lookup for each call with reference-type arguments. This override does
/// nothing else (it returns the state).
/// </summary>
public class HybridDispatchBenchmarks
{
    private readonly string[] _keys = Peers.Keys("bench", HitBenchmarks.KeyCount);
    private readonly string[] _values = Peers.Values(HitBenchmarks.KeyCount);
    private readonly HybridCache _noop = new NoopHybridCache();

    [Benchmark(OperationsPerInvoke = HitBenchmarks.KeyCount, Description = "HybridCache.GetOrCreateAsync dispatch alone (override returns the state)")]
    public string? Dispatch()
    {
        string? last = null;
        var keys = _keys;
        var values = _values;
        for (var i = 0; i < keys.Length; i++)
        {
            last = Peers.Sync(_noop.GetOrCreateAsync(keys[i], values[i], static (v, _) => new ValueTask<string>(v)));
        }

        return last;
    }

    private sealed class NoopHybridCache : HybridCache
    {
        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
            new((T)(object)state!);

        public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) => default;

        public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => default;

        public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) => default;
    }
}
