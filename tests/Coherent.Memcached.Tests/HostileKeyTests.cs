using Coherent.Memcached.Protocol;
using Coherent.Memcached.Store;
using Coherent.Memcached.Tests.Infrastructure;
using static Coherent.Memcached.Tests.Infrastructure.Clients;

namespace Coherent.Memcached.Tests;

/// <summary>Keys that would break a text protocol if sent raw: each must round-trip and leave the stream in step.</summary>
public sealed class HostileKeyTests
{
    public static TheoryData<string, byte[]> RawKeys => new()
    {
        { "space", "a key with spaces"u8.ToArray() },
        { "CRLF and a command", "x\r\nflush_all\r\nmg y"u8.ToArray() },
        { "control characters", [0x00, 0x01, 0x07, 0x1b, 0x7f, 0x0a] },
        { "not UTF-8", [0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80] },
        { "longest unhashed", Enumerable.Repeat((byte)'k', MemcachedKey.MaxRawLength).ToArray() },
    };

    [Theory]
    [MemberData(nameof(RawKeys))]
    public async Task A_raw_key_of_any_bytes_round_trips_in_base64_and_the_next_request_is_answered(string what, byte[] raw)
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var connection = await ConnectAsync(server);
        var key = MemcachedKey.ToBase64(raw);

        Assert.Equal(MetaStatus.Header, (await connection.SendAsync(Set(key, what))).Status);
        Assert.Equal(what, Text(await connection.SendAsync(Get(key))));
        Assert.Equal(MetaStatus.NoOp, (await connection.SendAsync(MetaRequest.NoOp)).Status);
        Assert.Equal("1", await server.StatAsync("curr_items"));
    }

    public static TheoryData<string, string> TextKeys => new()
    {
        { "space", "price:a b c" },
        { "control characters", "price:\r\n\t\0\u001b end" },
        { "non-ASCII", "price:Zürich-東京-🙂" },
        { "10 KB", "price:" + new string('k', 10 * 1024) },
    };

    [Theory]
    [MemberData(nameof(TextKeys))]
    public async Task A_hostile_cache_key_is_stored_and_read_back_through_the_store(string what, string key)
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server);

        Assert.Equal(StoreOutcome.Stored, await store.StoreAsync(key, Bytes(what), TimeSpan.FromMinutes(1)));
        var read = await store.ReadAsync(key, LeaseOptions.None);

        Assert.Equal((ReadOutcome.Hit, what, FrameRejection.None), (read.Outcome, Text(read.Payload), read.Rejection));
        Assert.True(store.DataKey(key).Length <= MemcachedKey.MaxWireLength);
    }

    [Fact]
    public async Task Two_long_keys_that_differ_only_at_the_end_keep_their_own_values()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server);
        var a = "price:" + new string('k', 10 * 1024) + "a";
        var b = "price:" + new string('k', 10 * 1024) + "b";

        await store.StoreAsync(a, Bytes("A"), TimeSpan.FromMinutes(1));
        await store.StoreAsync(b, Bytes("B"), TimeSpan.FromMinutes(1));

        Assert.Equal("A", Text((await store.ReadAsync(a, LeaseOptions.None)).Payload));
        Assert.Equal("B", Text((await store.ReadAsync(b, LeaseOptions.None)).Payload));
    }

    [Fact]
    public async Task A_value_framed_for_another_key_under_the_same_memcached_key_is_refused_as_aliased()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server);
        await using var connection = await ConnectAsync(server);
        var victim = "price:" + new string('v', 500);
        // What a hash collision would leave: another key's frame under the victim's (hashed) Memcached key.
        var forged = ItemFraming.Frame(MemcachedKey.Utf8("price:attacker"), Bytes("poison"));
        await connection.SendAsync(new MetaRequest(MetaVerb.Set, store.DataKey(victim), MetaRequestFlags.None, forged));

        var read = await store.ReadAsync(victim, LeaseOptions.None);

        Assert.Equal((FrameRejection.Aliased, (ReadOnlyMemory<byte>?)null), (read.Rejection, read.Payload));
    }

    [Theory]
    [InlineData("CM", nameof(FrameRejection.Corrupt))]
    [InlineData("not written by Coherent", nameof(FrameRejection.Foreign))]
    public async Task Foreign_or_corrupt_bytes_under_a_key_are_refused_with_the_reason(string bytes, string reason)
    {
        var expected = Enum.Parse<FrameRejection>(reason);
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var store = await StoreAsync(server);
        await using var connection = await ConnectAsync(server);
        await connection.SendAsync(new MetaRequest(MetaVerb.Set, store.DataKey("price:1"), MetaRequestFlags.None, Bytes(bytes)));

        var read = await store.ReadAsync("price:1", LeaseOptions.None);

        Assert.Equal((expected, (ReadOnlyMemory<byte>?)null), (read.Rejection, read.Payload));
    }

    [Fact]
    public void A_key_with_an_unpaired_surrogate_is_refused_because_UTF_8_would_merge_it_with_others() =>
        Assert.Contains("unpaired surrogate", Assert.Throws<ArgumentException>(() => MemcachedKey.Utf8("price:\ud800")).Message, StringComparison.Ordinal);

    [Fact]
    public void A_plain_key_and_a_hashed_key_never_share_wire_bytes()
    {
        var keys = new MemcachedKey("app");
        var longKey = new string('x', 400);
        var hashed = keys.Encode((byte)'d', Bytes(longKey));
        var raw = Convert.FromBase64String(System.Text.Encoding.ASCII.GetString(hashed));

        Assert.Equal(0x01, raw[3]);
        Assert.Equal(0x00, Convert.FromBase64String(System.Text.Encoding.ASCII.GetString(keys.Encode((byte)'d', raw.AsSpan(5))))[3]);
    }
}
