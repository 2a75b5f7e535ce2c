using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Issue 11, hole 11: the Redis tier derived a key's family its own way (a key without ':' was its own family), the engine
/// another (no family): a key named like a versioned family was written as versioned and read as plain, so it always missed.
/// </summary>
public sealed class FamilyResolutionTests
{
    [Fact]
    public async Task A_key_without_a_family_is_read_where_it_was_written_even_when_a_versioned_family_has_its_name()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var prefix = KeyPrefix.New("v");
        await using var a = await Node.StartAsync(server.Endpoint, prefix, o => o.VersionedFamilies.Add("product"));
        await using var b = await Node.StartAsync(server.Endpoint, prefix, o => o.VersionedFamilies.Add("product"));
        var ct = TestContext.Current.CancellationToken;

        await a.Cache.SetAsync("product", "written", cancellationToken: ct);
        Assert.Equal("written", await b.Cache.GetOrSetAsync("product", _ => ValueTask.FromResult("recomputed"), cancellationToken: ct));

        // And a versioned key proper still is.
        await a.Cache.SetAsync("product:1", "v1", cancellationToken: ct);
        Assert.Equal("v1", await b.Cache.GetOrSetAsync("product:1", _ => ValueTask.FromResult("recomputed"), cancellationToken: ct));
    }
}
