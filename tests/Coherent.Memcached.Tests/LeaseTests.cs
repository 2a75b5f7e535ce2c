using Coherent.Memcached.Store;
using Coherent.Memcached.Tests.Infrastructure;
using static Coherent.Memcached.Tests.Infrastructure.Clients;

namespace Coherent.Memcached.Tests;

/// <summary>Facebook-style leases and fencing with two independent clients (two nodes) on one server.</summary>
public sealed class LeaseTests
{
    private static readonly LeaseOptions Lease = new(LeaseTtl: TimeSpan.FromSeconds(30));
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task The_first_miss_wins_the_lease_and_the_other_client_sees_it_held_until_the_fill()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = await StoreAsync(server);
        await using var b = await StoreAsync(server);

        var won = await a.ReadAsync("price:1", Lease);
        var held = await b.ReadAsync("price:1", Lease);

        Assert.Equal((ReadOutcome.Won, (ReadOnlyMemory<byte>?)null), (won.Outcome, won.Payload));
        Assert.Equal((ReadOutcome.HeldByOther, (ReadOnlyMemory<byte>?)null), (held.Outcome, held.Payload));
        Assert.Equal(StoreOutcome.Stored, await a.StoreAsync("price:1", Bytes("10"), Ttl, won.Cas));
        var hit = await b.ReadAsync("price:1", Lease);
        Assert.Equal((ReadOutcome.Hit, "10", false), (hit.Outcome, Text(hit.Payload), hit.IsStale));
    }

    [Fact]
    public async Task An_invalidation_fences_a_fill_started_before_it_and_the_next_reader_wins_with_the_stale_value()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = await StoreAsync(server);
        await using var b = await StoreAsync(server);
        await a.StoreAsync("price:1", Bytes("old"), Ttl);
        var readBefore = await b.ReadAsync("price:1", Lease);

        Assert.True(await a.InvalidateAsync("price:1", staleTtl: TimeSpan.FromSeconds(60)));

        Assert.Equal(StoreOutcome.Conflict, await b.StoreAsync("price:1", Bytes("computed from old data"), Ttl, readBefore.Cas));
        var winner = await a.ReadAsync("price:1", Lease);
        var other = await b.ReadAsync("price:1", Lease);
        Assert.Equal((ReadOutcome.Won, true, "old"), (winner.Outcome, winner.IsStale, Text(winner.Payload)));
        Assert.Equal((ReadOutcome.HeldByOther, true, "old"), (other.Outcome, other.IsStale, Text(other.Payload)));
        Assert.Equal(StoreOutcome.Stored, await a.StoreAsync("price:1", Bytes("new"), Ttl, winner.Cas));
        var fresh = await b.ReadAsync("price:1", Lease);
        Assert.Equal((ReadOutcome.Hit, false, "new"), (fresh.Outcome, fresh.IsStale, Text(fresh.Payload)));
    }

    [Fact]
    public async Task A_delete_fences_the_lease_holders_fill()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = await StoreAsync(server);
        await using var b = await StoreAsync(server);
        var won = await a.ReadAsync("price:1", Lease);

        Assert.True(await b.DeleteAsync("price:1"));

        Assert.Equal(StoreOutcome.Missing, await a.StoreAsync("price:1", Bytes("late"), Ttl, won.Cas));
        Assert.Equal(ReadOutcome.Miss, (await a.ReadAsync("price:1", LeaseOptions.None)).Outcome);
        Assert.False(await b.DeleteAsync("price:1"));
        Assert.False(await b.InvalidateAsync("price:1"));
    }

    [Fact]
    public async Task A_second_fill_with_the_same_lease_token_is_refused()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = await StoreAsync(server);
        var won = await a.ReadAsync("price:1", Lease);

        Assert.Equal(StoreOutcome.Stored, await a.StoreAsync("price:1", Bytes("first"), Ttl, won.Cas));
        Assert.Equal(StoreOutcome.Conflict, await a.StoreAsync("price:1", Bytes("second"), Ttl, won.Cas));
        Assert.Equal("first", Text((await a.ReadAsync("price:1", LeaseOptions.None)).Payload));
    }

    [Fact]
    public async Task A_hit_close_to_expiry_gives_one_reader_the_lease_to_refresh_it_early()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = await StoreAsync(server);
        await using var b = await StoreAsync(server);
        await a.StoreAsync("price:1", Bytes("v"), TimeSpan.FromSeconds(100));
        var recache = new LeaseOptions(TimeSpan.FromSeconds(30), RecacheBelow: TimeSpan.FromSeconds(200));

        var first = await a.ReadAsync("price:1", recache);
        var second = await b.ReadAsync("price:1", recache);

        Assert.Equal((ReadOutcome.Won, "v", false), (first.Outcome, Text(first.Payload), first.IsStale));
        Assert.Equal((ReadOutcome.HeldByOther, "v"), (second.Outcome, Text(second.Payload)));
        Assert.InRange(first.RemainingTtlSeconds!.Value, 90, 100);
    }

    [Fact]
    public async Task A_plain_read_of_a_missing_key_is_a_miss_without_a_lease()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var a = await StoreAsync(server);

        var read = await a.ReadAsync("price:1", LeaseOptions.None);

        Assert.Equal((ReadOutcome.Miss, 0UL), (read.Outcome, read.Cas));
        Assert.Equal("0", await server.StatAsync("curr_items"));
    }
}
