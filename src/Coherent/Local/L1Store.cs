using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using BitFaster.Caching;
using BitFaster.Caching.Lfu;

namespace Coherent.Local;

/// <summary>
/// The bounded in-process tier. Reads go to a plain <see cref="ConcurrentDictionary{TKey,TValue}"/>; admission and
/// eviction are decided by BitFaster's W-TinyLFU <c>ConcurrentLfu</c>, which mirrors the same entries.
/// Why the mirror: <c>ConcurrentLfu.TryGet</c> costs ~32 ns here against ~10 ns for the dictionary, because it records
/// every access in a striped buffer. We record every access of an entry's first 16 hits (so new keys are judged on
/// their true frequency) and one in 16 after that (the sketch's 4-bit counters are saturated by then).
/// </summary>
internal sealed class L1Store : IDisposable
{
    private readonly ConcurrentDictionary<string, CacheEntry> _map;
    private readonly ICache<string, CacheEntry> _lfu;
    private readonly long _maxWeight;
    private readonly Func<string, object?, long>? _weigher;
    private readonly Action<CacheEntry>? _onEvicted;
    private long _weight;

    [ThreadStatic]
    private static int t_sampleTick;

    public L1Store(int maxEntries, long maxWeight, Func<string, object?, long>? weigher, Action<CacheEntry>? onEvicted)
    {
        _map = new ConcurrentDictionary<string, CacheEntry>(Environment.ProcessorCount, Math.Min(maxEntries, 1024), StringComparer.Ordinal);
        _lfu = new ConcurrentLfuBuilder<string, CacheEntry>()
            .WithCapacity(Math.Max(maxEntries, MinLfuCapacity))
            .WithKeyComparer(StringComparer.Ordinal)
            .WithEvents()
            .Build();
        _lfu.Events.Value!.ItemRemoved += OnLfuRemoved;
        _maxWeight = maxWeight;
        _weigher = weigher;
        _onEvicted = onEvicted;
        Capacity = maxEntries;
    }

    public int Capacity { get; }

    public int Count => _map.Count;

    public long Weight => Interlocked.Read(ref _weight);

    public ICollection<string> Keys => _map.Keys;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGet(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out CacheEntry entry)
    {
        if (!_map.TryGetValue(key, out entry))
        {
            return false;
        }

        var hits = entry.SampledHits;
        if (hits < 16)
        {
            entry.SampledHits = hits + 1;
            _lfu.TryGet(key, out _);
        }
        else if ((++t_sampleTick & 15) == 0)
        {
            _lfu.TryGet(key, out _);
        }

        return true;
    }

    /// <summary>Looks up without counting an access (for writers and maintenance).</summary>
    public bool Peek(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out CacheEntry entry) => _map.TryGetValue(key, out entry);

    public void Set(CacheEntry entry)
    {
        if (_weigher is not null)
        {
            entry.Weight = Math.Max(0, _weigher(entry.Key, entry.Value));
        }

        CacheEntry? previous = null;
        _map.AddOrUpdate(entry.Key, entry, (_, old) =>
        {
            previous = old;
            return entry;
        });
        AdjustWeight(entry.Weight - (previous?.Weight ?? 0));
        _lfu.AddOrUpdate(entry.Key, entry);

        // Two writers of one key can reach the LFU in the opposite order to the map; the LFU would then track a value the
        // map no longer holds, and the map's value would never be evicted (count and weight bounds exceeded). Re-sync.
        if (_map.TryGetValue(entry.Key, out var current) && !ReferenceEquals(current, entry))
        {
            _lfu.AddOrUpdate(entry.Key, current);
        }

        TrimToWeight();
        if (Capacity < MinLfuCapacity)
        {
            TrimToTinyCapacity();
        }
    }

    public bool Remove(string key)
    {
        if (_map.TryRemove(key, out var removed))
        {
            AdjustWeight(-removed.Weight);
            _lfu.TryRemove(key);
            return true;
        }

        return false;
    }

    /// <summary>Removes the key only if it still maps to <paramref name="entry"/> (a newer value stays).</summary>
    public bool Remove(CacheEntry entry)
    {
        if (_map.TryRemove(new KeyValuePair<string, CacheEntry>(entry.Key, entry)))
        {
            AdjustWeight(-entry.Weight);
            _lfu.TryRemove(new KeyValuePair<string, CacheEntry>(entry.Key, entry));
            return true;
        }

        return false;
    }

    public void Clear()
    {
        foreach (var key in _map.Keys)
        {
            Remove(key);
        }
    }

    /// <summary>Drops entries matching a predicate (expired past retention, fetched before an outage...). Returns how many.</summary>
    public int RemoveWhere<TState>(Func<CacheEntry, TState, bool> predicate, TState state)
    {
        var removed = 0;
        foreach (var pair in _map)
        {
            if (predicate(pair.Value, state) && Remove(pair.Value))
            {
                removed++;
            }
        }

        return removed;
    }

    private void AdjustWeight(long delta)
    {
        if (_weigher is not null && delta != 0)
        {
            Interlocked.Add(ref _weight, delta);
        }
    }

    /// <summary>ConcurrentLfu needs a capacity of at least 3; below that, the bound is enforced here.</summary>
    private const int MinLfuCapacity = 3;

    private void TrimToTinyCapacity()
    {
        var guard = MinLfuCapacity + 1;
        while (_map.Count > Capacity && guard-- > 0)
        {
            var before = _map.Count;
            _lfu.Policy.Eviction.Value!.Trim(1);
            if (_map.Count == before)
            {
                break;
            }
        }
    }

    private void TrimToWeight()
    {
        if (_weigher is null || _maxWeight <= 0)
        {
            return;
        }

        // Trim from the LFU's cold end until under the weight limit; each trimmed entry reports back through OnLfuRemoved.
        var guard = _map.Count + 1;
        while (Interlocked.Read(ref _weight) > _maxWeight && guard-- > 0 && !_map.IsEmpty)
        {
            var before = Interlocked.Read(ref _weight);
            _lfu.Policy.Eviction.Value!.Trim(1);
            if (Interlocked.Read(ref _weight) == before)
            {
                break; // nothing left to trim that affects weight (entries pending in the LFU's buffers)
            }
        }
    }

    private void OnLfuRemoved(object? sender, ItemRemovedEventArgs<string, CacheEntry> e)
    {
        if (e.Reason is ItemRemovedReason.Evicted or ItemRemovedReason.Trimmed && e.Value is { } entry
            && _map.TryRemove(new KeyValuePair<string, CacheEntry>(e.Key, entry)))
        {
            AdjustWeight(-entry.Weight);
            _onEvicted?.Invoke(entry);
        }
    }

    /// <summary>Runs the LFU's pending maintenance now (drain access buffers, evict). For tests: it normally runs asynchronously.</summary>
    internal void DoMaintenance() => (_lfu as ConcurrentLfu<string, CacheEntry>)?.DoMaintenance();

    public void Dispose() => _lfu.Events.Value!.ItemRemoved -= OnLfuRemoved;
}
