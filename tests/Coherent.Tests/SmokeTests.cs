using Coherent;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

public sealed class SmokeTests
{
    [Fact]
    public async Task Miss_then_hit_runs_the_factory_once()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
        await using var cache = new CoherentCacheBuilder()
            .WithTimeProvider(time)
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0))
            .Build();
        var runs = 0;
        var first = await cache.GetOrSetAsync("price:1", _ => { runs++; return ValueTask.FromResult(42); });
        var second = await cache.GetOrSetAsync("price:1", _ => { runs++; return ValueTask.FromResult(43); });
        Assert.Equal(42, first);
        Assert.Equal(42, second);
        Assert.Equal(1, runs);

        time.Advance(TimeSpan.FromMinutes(10));
        var third = await cache.GetOrSetAsync("price:1", _ => { runs++; return ValueTask.FromResult(44); });
        Assert.Equal(44, third);
        Assert.Equal(2, runs);
    }
}
