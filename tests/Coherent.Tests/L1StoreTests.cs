using Coherent.Local;
using Coherent.Policies;

namespace Coherent.Tests;

/// <summary>The L1's own policy parts: the frequency sketch, eviction's order of preference, and the compact entry.</summary>
public sealed class L1StoreTests : IAsyncLifetime
{
    private CoherentCache _cache = null!;
    private FamilyState _family = null!;

    public ValueTask InitializeAsync()
    {
        _cache = T.Price(T.Clock()).Build();
        _family = _cache.Families.Resolve("price:1");
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _cache.DisposeAsync();

    [Fact]
    public void The_sketch_counts_up_to_15_and_halves_every_sample_of_increments()
    {
        var sketch = new FrequencySketch(capacity: 1_000);
        for (var i = 0; i < 20; i++)
        {
            sketch.Increment(42);
        }

        Assert.Equal(15, sketch.Frequency(42));
        Assert.Equal(0, sketch.Frequency(43));

        // Fill the rest of the sample with other keys: the counters halve, 15 → 7 (other keys' collisions can only add).
        for (var i = 0; sketch.Frequency(42) == 15 && i < sketch.SampleSize; i++)
        {
            sketch.Increment(1_000 + i);
        }

        Assert.InRange(sketch.Frequency(42), 7, 8);
    }

    [Fact]
    public void Eviction_takes_an_entry_never_hit_before_entries_that_were_hit()
    {
        // 20 entries: fewer than the eviction's sample, so every one is compared.
        var evicted = new List<string>();
        var store = new L1Store(20, 0, null, e => evicted.Add(e.Key));
        for (var i = 0; i < 20; i++)
        {
            store.Set(new CacheEntry($"price:{i}", i, _family));
        }

        for (var i = 0; i < 20; i++)
        {
            if (i != 7 && store.Peek($"price:{i}", out var entry))
            {
                store.RecordHit(entry, 0);
            }
        }

        store.Set(new CacheEntry("price:new", 0, _family));

        Assert.Equal(["price:7"], evicted);
        Assert.Equal(20, store.Count);
        Assert.True(store.Peek("price:new", out _), "the newest entry is young: eviction spares it while an older one is in the sample");
    }

    [Fact]
    public void An_entry_reads_its_defaults_without_extras_and_keeps_what_it_was_given()
    {
        var plain = new CacheEntry("price:1", 1, _family) { CreatedAtMs = 10, FetchedAtMs = 11, ExpiresAtMs = 100, RetainUntilMs = 100, DeltaMs = 2.5 };
        Assert.Equal((100L, 100L, long.MaxValue, 100L), (plain.ExpiresAtMs, plain.RetainUntilMs, plain.EarlyRefreshFromMs, plain.HotUntilMs));
        Assert.Equal((0L, 0L, 0L, 2.5), (plain.Epoch, plain.Weight, plain.ThrottleUntilMs, plain.DeltaMs));
        Assert.Null(plain.Tags);
        Assert.True(plain.TagsCurrent());

        var rich = new CacheEntry("price:2", 2, _family) { ExpiresAtMs = 100, RetainUntilMs = 500, EarlyRefreshFromMs = 80, Epoch = 7, ClearStamp = 3 };
        Assert.Equal((100L, 500L, 80L, 80L, 7L), (rich.ExpiresAtMs, rich.RetainUntilMs, rich.EarlyRefreshFromMs, rich.HotUntilMs, rich.Epoch));
        Assert.True(rich.IsValid(3));
        Assert.False(rich.IsValid(4));

        // Mutable after publication: the throttle, and one refresh per entry.
        plain.ThrottleUntil(300);
        Assert.Equal(300, plain.ThrottleUntilMs);
        Assert.Equal(100, plain.RetainUntilMs);
        Assert.True(plain.TryBeginRefresh());
        Assert.False(plain.TryBeginRefresh());
    }
}
