using System.Runtime.CompilerServices;
using Coherent.Invalidation;

namespace Coherent.Tests;

/// <summary>The tag table forgets tags nothing carries any more, and never one a live entry still carries.</summary>
public sealed class TagTableTests
{
    private static readonly CacheEntryOptions Catalog = new() { Tags = ["catalog"] };

    [Fact]
    public void Tags_nothing_carries_are_swept_and_start_fresh_on_next_use()
    {
        var table = new TagTable();
        UseAndDrop(table, 5_000);
        Collect();

        table.Sweep();
        Assert.Equal(0, table.Count);

        var again = table.Get("tag-7");
        Assert.Equal(0, Volatile.Read(ref again.Version));
        Assert.Same(again, table.Get("tag-7"));
    }

    [Fact]
    public async Task A_tag_a_live_entry_carries_survives_sweeps_and_its_bump_still_invalidates_the_entry()
    {
        await using var cache = new CoherentCacheBuilder()
            .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)))
            .Build();
        var ct = TestContext.Current.CancellationToken;
        await cache.SetAsync("item:1", "old", Catalog, ct);
        await cache.InvalidateTagAsync("catalog", ct); // the tag's version moves to 1 before the entry below is stamped
        await cache.SetAsync("item:1", "kept", Catalog, ct);

        // Thousands of one-off tags pass through (and trigger the table's own sweeps); then a full collection and a sweep.
        for (var i = 0; i < 5_000; i++)
        {
            await cache.SetAsync("item:x", i, new CacheEntryOptions { Tags = ["one-off-" + i] }, ct);
        }

        Collect();
        cache.Tags.Sweep();
        Assert.InRange(cache.Tags.Count, 2, 10); // "catalog" and the last one-off tag, held by live entries

        Assert.Equal("kept", await cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("computed"), Catalog, ct));
        await cache.InvalidateTagAsync("catalog", ct);
        Assert.Equal("computed", await cache.GetOrSetAsync("item:1", _ => ValueTask.FromResult("computed"), Catalog, ct));
    }

    [Fact]
    public async Task After_a_full_collection_the_table_sweeps_itself()
    {
        // 20,000 one-off tags over 100 keys: each overwrite drops the only entry that carried the previous tag.
        await using var cache = new CoherentCacheBuilder()
            .Define("m", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5)))
            .WithLocalCapacity(1_000)
            .Build();
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 20_000; i++)
        {
            await cache.SetAsync("m:" + (i % 100), i, new CacheEntryOptions { Tags = ["tag-" + i] }, ct);
        }

        Collect(); // no explicit sweep: the table's own sweeper runs after full collections
        Assert.InRange(cache.Tags.Count, 100, 1_100);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void UseAndDrop(TagTable table, int count)
    {
        for (var i = 0; i < count; i++)
        {
            table.Bump("tag-" + i);
        }
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
