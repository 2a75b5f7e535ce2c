using Coherent.Local;
using Coherent.Policies;

namespace Coherent.Tests;

/// <summary>
/// The L1's own hash map (entries are its nodes): replace and remove semantics, lookups that never miss a resident key
/// while other keys are written, removed and the table is resized under them, and the switch to the randomized hash when
/// a chain is flooded.
/// </summary>
public sealed class EntryMapTests : IAsyncLifetime
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

    private CacheEntry Entry(string key, object? value = null) => new(key, value ?? key, _family);

    [Fact]
    public void Add_replace_and_remove_keep_one_entry_per_key()
    {
        var map = new EntryMap(4);
        var first = Entry("price:1");
        Assert.Null(map.AddOrReplace(first));
        Assert.True(map.TryGetValue(new string("price:1".AsSpan()), out var found)); // equal, not the same string
        Assert.Same(first, found);

        var second = Entry("price:1", "newer");
        Assert.Same(first, map.AddOrReplace(second));
        Assert.Equal(1, map.Count);
        Assert.True(map.TryGetValue("price:1", out found));
        Assert.Same(second, found);

        Assert.False(map.TryRemove(first), "removing a replaced entry must leave the newer one");
        Assert.True(map.ContainsKey("price:1"));
        Assert.True(map.TryRemove(second));
        Assert.False(map.ContainsKey("price:1"));
        Assert.False(map.TryRemove("price:1", out _));
        Assert.Equal(0, map.Count);
        Assert.True(map.IsEmpty);
    }

    [Fact]
    public void Growing_from_a_small_table_keeps_every_entry_and_the_load_at_most_one_half()
    {
        var map = new EntryMap(1);
        var entries = Enumerable.Range(0, 5_000).Select(i => Entry($"price:{i}")).ToArray();
        foreach (var e in entries)
        {
            map.AddOrReplace(e);
        }

        Assert.Equal(entries.Length, map.Count);
        Assert.True(map.BucketCount >= 2 * entries.Length, $"{map.BucketCount} buckets for {entries.Length} entries");
        Assert.All(entries, e => Assert.True(map.TryGetValue(e.Key, out var found) && ReferenceEquals(found, e), e.Key));
        Assert.Equal(entries.Select(e => e.Key).Order(), map.Entries().Select(e => e.Key).Order());
        Assert.False(map.IsRandomized);

        // The hash spreads look-alike keys: at load 1/2 the longest chain stays short (a weak hash piles them up).
        var mask = map.BucketCount - 1;
        var longest = entries.GroupBy(e => map.FastHashOf(e.Key) & mask).Max(g => g.Count());
        Assert.InRange(longest, 1, 8);
    }

    [Fact]
    public void A_flooded_chain_switches_the_map_to_the_randomized_hash_and_keeps_every_entry()
    {
        const ulong seed = 12345;
        var map = new EntryMap(128, seed);
        var mask = map.BucketCount - 1;
        Assert.True(map.BucketCount / 2 > EntryMap.MaxChain, "the flood must fit under the resize threshold");

        // Keys that all land in bucket 0 under this seed: what an attacker who knew the seed would send.
        var colliding = Enumerable.Range(0, 1_000_000).Select(i => $"price:{i}")
            .Where(k => (map.FastHashOf(k) & mask) == 0)
            .Take(EntryMap.MaxChain + 1)
            .Select(k => Entry(k))
            .ToArray();
        foreach (var e in colliding)
        {
            map.AddOrReplace(e);
        }

        Assert.True(map.IsRandomized, "a chain of MaxChain entries must switch the hash");
        Assert.Equal(colliding.Length, map.Count);
        Assert.All(colliding, e => Assert.True(map.TryGetValue(e.Key, out var found) && ReferenceEquals(found, e), e.Key));

        // A key given as characters (HybridCache's span keys) hashes alike under the randomized hash too.
        Assert.All(colliding, e => Assert.Same(e, map.Find(("x" + e.Key + "y").AsSpan(1, e.Key.Length))));
        Assert.Null(map.Find("price:not-there".AsSpan()));
    }

    [Fact]
    public void A_key_given_as_characters_finds_the_entry_stored_under_the_same_string()
    {
        var map = new EntryMap(16);
        var stored = Entry("price:42");
        map.AddOrReplace(stored);
        Assert.Same(stored, map.Find("-price:42-".AsSpan(1, 8)));
        Assert.Null(map.Find("price:4".AsSpan()));
        Assert.Null(map.Find("price:420".AsSpan()));
    }

    /// <summary>
    /// Readers look up resident keys while a writer floods one bucket and the map switches its hash under them: every
    /// lookup must still find its key (a reader that hashed the old way on the new array, or walked a relinked chain,
    /// retries instead of reporting a miss).
    /// </summary>
    [Fact]
    public async Task Switching_to_the_randomized_hash_under_readers_never_hides_a_resident_key()
    {
        for (var round = 0; round < 5; round++)
        {
            var seed = (ulong)(1000 + round);
            // 2,000 residents (the rebuild relinks them all: a window readers can fall into), no growth before the flood.
            var map = new EntryMap(2_048, seed);
            var mask = map.BucketCount - 1;
            var resident = Enumerable.Range(0, 2_000).Select(i => Entry($"resident:{i}")).ToArray();
            Assert.True(resident.Length + EntryMap.MaxChain + 1 <= map.BucketCount / 2, "the flood must not also trigger a resize");
            foreach (var e in resident)
            {
                map.AddOrReplace(e);
            }

            var colliding = Enumerable.Range(0, 2_000_000).Select(i => $"flood:{i}")
                .Where(k => (map.FastHashOf(k) & mask) == 0)
                .Take(EntryMap.MaxChain + 1)
                .Select(k => Entry(k))
                .ToArray();
            using var start = new Barrier(3);
            var writerDone = 0;
            var failures = 0;
            var readers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                var n = 0;
                while (Volatile.Read(ref writerDone) == 0 || n < 20_000)
                {
                    var e = resident[(n++ * 7) % resident.Length];
                    if (!map.TryGetValue(e.Key, out var found) || !ReferenceEquals(found, e))
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            }, TaskCreationOptions.LongRunning)).ToArray();

            start.SignalAndWait();
            foreach (var e in colliding)
            {
                map.AddOrReplace(e);
            }

            Volatile.Write(ref writerDone, 1);
            await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(map.IsRandomized, "the flood must switch the hash");
            Assert.Equal(0, failures);
            Assert.All(colliding.Concat(resident), e => Assert.True(map.TryGetValue(e.Key, out var found) && ReferenceEquals(found, e), e.Key));
        }
    }

    /// <summary>
    /// Writers add, replace and remove their own keys (sharing buckets, forcing resizes) while readers look up a resident set
    /// nobody touches: a resident key must be found on every lookup, and whatever a lookup finds must carry the key asked
    /// for. At the end every writer's keys are exactly what that writer last did to them.
    /// </summary>
    [Fact]
    public async Task Concurrent_writers_never_hide_a_resident_key_and_leave_exactly_their_last_writes()
    {
        const int Writers = 3;
        const int KeysPerWriter = 2_000;
        const int OpsPerWriter = 40_000;
        var map = new EntryMap(1);
        var resident = Enumerable.Range(0, 64).Select(i => Entry($"resident:{i}")).ToArray();
        foreach (var e in resident)
        {
            map.AddOrReplace(e);
        }

        using var start = new Barrier(Writers + 2);
        var writersDone = 0;
        var models = new Dictionary<string, CacheEntry>[Writers];
        var readerFailures = new List<string>();

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Factory.StartNew(() =>
        {
            var model = models[w] = [];
            var random = new Random(w);
            start.SignalAndWait();
            for (var n = 0; n < OpsPerWriter; n++)
            {
                var key = $"w{w}:{random.Next(KeysPerWriter)}";
                if (random.Next(3) == 0)
                {
                    var removed = map.TryRemove(key, out var gone);
                    Assert.Equal(model.Remove(key, out var expected), removed);
                    Assert.Same(expected, gone);
                }
                else
                {
                    var e = Entry(key);
                    Assert.Same(model.GetValueOrDefault(key), map.AddOrReplace(e));
                    model[key] = e;
                }
            }

            Interlocked.Increment(ref writersDone);
        }, TaskCreationOptions.LongRunning)).ToArray();

        var readers = Enumerable.Range(0, 2).Select(r => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            var lookups = 0;
            while (Volatile.Read(ref writersDone) < Writers || lookups < 100_000)
            {
                var e = resident[lookups++ % resident.Length];
                if (!map.TryGetValue(e.Key, out var found) || !ReferenceEquals(found, e))
                {
                    lock (readerFailures)
                    {
                        readerFailures.Add($"{e.Key} not found on lookup {lookups}");
                    }
                }

                var other = $"w{lookups % Writers}:{lookups % KeysPerWriter}";
                if (map.TryGetValue(other, out var seen) && seen.Key != other)
                {
                    lock (readerFailures)
                    {
                        readerFailures.Add($"{other} found entry of {seen.Key}");
                    }
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        await Task.WhenAll(writers.Concat(readers)).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Empty(readerFailures);

        var expected = models.SelectMany(m => m.Values).Concat(resident).ToDictionary(e => e.Key);
        Assert.Equal(expected.Count, map.Count);
        var actual = map.Entries();
        Assert.Equal(expected.Count, actual.Count);
        Assert.All(actual, e => Assert.Same(expected[e.Key], e));
    }
}
