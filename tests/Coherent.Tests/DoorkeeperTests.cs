using Coherent.Local;

namespace Coherent.Tests;

/// <summary>
/// A full L1 caches a key read through <c>GetOrSetAsync</c> on its second miss, so one-off keys (a scan) do not displace
/// anything; until the L1 has been full, and for explicit writes, every value is cached.
/// </summary>
public sealed class DoorkeeperTests
{
    [Fact]
    public void A_key_is_seen_before_from_its_second_sighting_and_forgotten_after_ten_capacities_of_new_keys()
    {
        var doorkeeper = new Doorkeeper(capacity: 100);
        Assert.False(doorkeeper.SeenBefore("price:1"));
        Assert.True(doorkeeper.SeenBefore("price:1"));
        Assert.True(doorkeeper.SeenBefore("price:1"));

        // 1,000 first sightings (10 × capacity) reset the filter: price:1 is new again. (A few of the other keys are false
        // positives, not first sightings, so count marks rather than keys.)
        var i = 0;
        do
        {
            doorkeeper.SeenBefore($"other:{i++}");
        }
        while (doorkeeper.Marks != 0 && i < 10_000);

        Assert.InRange(i, 1_000, 1_200);

        Assert.False(doorkeeper.SeenBefore("price:1"));
    }

    [Fact]
    public async Task Once_the_L1_is_full_a_one_off_key_is_served_but_cached_only_on_its_second_miss()
    {
        await using var cache = T.Price(T.Clock()).WithLocalCapacity(20).Build();
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _)
        {
            runs++;
            return ValueTask.FromResult(7);
        }

        // Not full yet: the first miss caches.
        Assert.Equal(7, await cache.GetOrSetAsync("price:first", Factory, cancellationToken: T.Ct));
        Assert.Equal(7, await cache.GetOrSetAsync("price:first", Factory, cancellationToken: T.Ct));
        Assert.Equal(1, runs);

        // Fill past capacity with writes (always cached) until the L1 has evicted.
        for (var i = 0; i < 200; i++)
        {
            await cache.SetAsync($"price:w{i}", i, cancellationToken: T.Ct);
        }

        cache.Diagnostics.MaintainLocal();
        Assert.InRange(cache.LocalCount, 1, 20);

        // Full: a new key is computed and served, not cached; its second miss caches it; the third read hits.
        runs = 0;
        Assert.Equal(7, await cache.GetOrSetAsync("price:new", Factory, cancellationToken: T.Ct));
        Assert.False(cache.Diagnostics.HasLocal("price:new"));
        Assert.Equal(7, await cache.GetOrSetAsync("price:new", Factory, cancellationToken: T.Ct));
        Assert.True(cache.Diagnostics.HasLocal("price:new"));
        Assert.Equal(7, await cache.GetOrSetAsync("price:new", Factory, cancellationToken: T.Ct));
        Assert.Equal(2, runs);

        // An explicit write is cached at once, full or not.
        await cache.SetAsync("price:written", 1, cancellationToken: T.Ct);
        Assert.True(cache.Diagnostics.HasLocal("price:written"));
    }

    [Fact]
    public async Task After_a_clear_the_L1_caches_on_first_miss_again()
    {
        await using var cache = T.Price(T.Clock()).WithLocalCapacity(20).Build();
        for (var i = 0; i < 200; i++)
        {
            await cache.SetAsync($"price:w{i}", i, cancellationToken: T.Ct);
        }

        cache.Diagnostics.MaintainLocal();
        await cache.ClearAsync(T.Ct);

        Assert.Equal(3, await cache.GetOrSetAsync("price:after", _ => ValueTask.FromResult(3), cancellationToken: T.Ct));
        Assert.True(cache.Diagnostics.HasLocal("price:after"));
    }
}
