using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests;

public sealed class GarnetFixture : IAsyncLifetime
{
    public EmbeddedGarnet? Garnet { get; private set; }

    public async ValueTask InitializeAsync()
    {
        Garnet = EmbeddedGarnet.Start();

        // Warm-up: Garnet compiles each Lua script on first use, which can take longer than the tests' 300 ms timeout.
        await using var warm = await Node.StartAsync(Garnet.ConnectionString, "warmup", o => o.OperationTimeout = TimeSpan.FromSeconds(10));
        await warm.Cache.GetOrSetAsync("item:w", _ => ValueTask.FromResult(1), new CacheEntryOptions { Tags = ["w"] });
        await warm.Cache.SetAsync("item:w", 2);
        await warm.Cache.InvalidateAsync("item:w");
        await warm.Cache.InvalidateTagAsync("w");
        var lease = await warm.Tier.TryAcquireLeaseAsync("item:l", TimeSpan.FromSeconds(1), CancellationToken.None);
        await warm.Tier.ReleaseLeaseAsync(lease!, CancellationToken.None);
    }

    public ValueTask DisposeAsync()
    {
        Garnet?.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The Garnet-compatible subset (strings, Lua, pub/sub) on the embedded server: runs whether or not redis-server is
/// installed. Process-level faults (SIGSTOP, kill, CLIENT KILL) need a real redis-server and live in the other suites.
/// </summary>
public sealed class GarnetTests(GarnetFixture fixture) : IClassFixture<GarnetFixture>
{
    private static string Prefix() => KeyPrefix.New("g");

    private string Endpoint => fixture.Garnet!.ConnectionString;

    [Fact]
    public async Task Read_through_write_through_and_propagation()
    {
        var prefix = Prefix();
        await using var a = await Node.StartAsync(Endpoint, prefix);
        await using var b = await Node.StartAsync(Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        var source = new Source();
        Assert.Equal(1, await a.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: ct));
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: ct));
        Assert.Equal(1, source.Runs);

        await a.Cache.SetAsync("item:1", 5L, cancellationToken: ct);
        await Eventually.TrueAsync(() => !b.HasLocal("item:1"), TimeSpan.FromSeconds(2), "set did not reach B");
        Assert.Equal(5, await b.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: ct));
        await a.Cache.InvalidateAsync("item:1", ct);
        await Eventually.TrueAsync(() => !b.HasLocal("item:1"), TimeSpan.FromSeconds(2), "invalidation did not reach B");
        Assert.Equal(1, await b.Cache.GetOrSetAsync("item:1", source.ReadAsync, cancellationToken: ct));
    }

    [Fact]
    public async Task Fencing_leases_tags_and_versioned_keys()
    {
        var prefix = Prefix();
        await using var a = await Node.StartAsync(Endpoint, prefix, o => o.VersionedFamilies.Add("product"));
        await using var b = await Node.StartAsync(Endpoint, prefix, o => o.VersionedFamilies.Add("product"));
        var ct = TestContext.Current.CancellationToken;

        var runs = 0;
        var herd = new[] { a, b }.SelectMany(n => Enumerable.Range(0, 10).Select(_ => n.Cache.GetOrSetAsync("item:herd", async c =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(50, c);
            return 1;
        }, new CacheEntryOptions { Tags = ["t"] }, ct).AsTask())).ToArray();
        Assert.All(await Task.WhenAll(herd), v => Assert.Equal(1, v));
        Assert.Equal(1, runs);

        await a.Cache.InvalidateTagAsync("t", ct);
        await Eventually.TrueAsync(async () => await b.Cache.GetOrSetAsync("item:herd", _ => ValueTask.FromResult(2), new CacheEntryOptions { Tags = ["t"] }, ct) == 2, TimeSpan.FromSeconds(2), "tag did not reach B");

        var family = a.Cache.Families.Resolve("item:f");
        var miss = await a.Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey("item:f", family.Name), ct);
        await b.Tier.InvalidateAsync(new Coherent.SharedTier.SharedTierKey("item:f", family.Name), ct);
        var entry = new SharedTier.SharedTierEntry { Payload = "1"u8.ToArray(), CreatedAtMs = 1, ExpiresAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 60_000 };
        Assert.False(await a.Tier.StoreIfEpochAsync(new Coherent.SharedTier.SharedTierKey("item:f", family.Name), entry, miss.Epoch, null, ct));

        await a.Cache.SetAsync("product:1", "v1", cancellationToken: ct);
        await a.Cache.SetAsync("product:1", "v2", cancellationToken: ct);
        Assert.Equal("v2", await b.Cache.GetOrSetAsync("product:1", _ => ValueTask.FromResult("factory"), cancellationToken: ct));
    }

    [Fact]
    public async Task Dropped_message_is_detected()
    {
        var (result, dropped, gaps) = await StalenessProbe.DroppedMessageAsync(Endpoint, Prefix(), TimeSpan.FromMilliseconds(1500), TestContext.Current.CancellationToken);
        Assert.True(dropped, "the hook did not drop the invalidation");
        Assert.True(gaps >= 1, "the gap was not detected");
        TestContext.Current.SendDiagnosticMessage($"garnet dropped message: worst staleness {result.WorstStaleMs:F0} ms");
        Assert.True(result.Converged);
        Assert.True(result.WorstStaleMs <= Node.MaxStaleness.TotalMilliseconds, $"served stale {result.WorstStaleMs} ms");
    }
}
