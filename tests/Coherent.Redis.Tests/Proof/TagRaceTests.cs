using System.Buffers;
using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// Found by the history proof (lab faults run on the cluster: "LOST node 2 cat:29: v19, database v20" — the writer's own
/// node kept serving the old value after its own tag invalidation): an L2 read accepted just before a tag invalidation
/// landed locally put the old entry into L1 stamped with the new tag version, valid until its local TTL.
/// </summary>
public sealed class TagRaceTests
{
    private static readonly CacheEntryOptions Tagged = new() { Tags = ["catalog"] };

    /// <summary>Holds the first armed (de)serialization (between the checks and the L1 fill, or the L2 store) until released.</summary>
    private sealed class GateSerializer : ICacheSerializer
    {
        public volatile bool Armed;
        public volatile bool ArmedSerialize;
        public readonly ManualResetEventSlim Entered = new();
        public readonly ManualResetEventSlim Release = new();

        public void Serialize<T>(T value, IBufferWriter<byte> destination)
        {
            if (ArmedSerialize)
            {
                ArmedSerialize = false;
                Entered.Set();
                Release.Wait(TimeSpan.FromSeconds(10));
            }

            JsonCacheSerializer.Default.Serialize(value, destination);
        }

        public T Deserialize<T>(ReadOnlySequence<byte> source)
        {
            if (Armed)
            {
                Armed = false;
                Entered.Set();
                Release.Wait(TimeSpan.FromSeconds(10));
            }

            return JsonCacheSerializer.Default.Deserialize<T>(source);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_L2_read_racing_a_tag_invalidation_never_fills_L1_with_the_old_value(bool remote)
    {
        await using var server = await FixtureServer.StartOwnAsync();
        var prefix = "r" + Guid.NewGuid().ToString("N")[..8];
        var gate = new GateSerializer();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, build: b => b.WithSerializer(gate));
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.SetAsync("item:t", "old", Tagged, ct);
        a.Cache.Local.Clear();

        gate.Armed = true;
        var read = Task.Run(() => a.Cache.GetOrSetAsync("item:t", _ => ValueTask.FromResult("new"), Tagged, ct).AsTask(), ct);
        Assert.True(gate.Entered.Wait(TimeSpan.FromSeconds(5), ct), "the L2 read never reached deserialization");
        if (remote)
        {
            await b.Cache.InvalidateTagAsync("catalog", ct);
            await Eventually.TrueAsync(() => a.Tier.Bus!.ConfirmedUpToMs > 0 && a.Cache.SharedTierState == SharedTierState.Healthy, TimeSpan.FromSeconds(2), "bus");
            await Task.Delay(100, ct); // let the message land on A
        }
        else
        {
            await a.Cache.InvalidateTagAsync("catalog", ct);
        }

        gate.Release.Set();
        await read; // concurrent with the invalidation: this caller may get either value

        Assert.Equal("new", await a.Cache.GetOrSetAsync("item:t", _ => ValueTask.FromResult("new"), Tagged, ct));
    }

    [Fact]
    public async Task A_fill_computed_before_a_tag_invalidation_is_never_stored_in_L2_as_current()
    {
        await using var server = await FixtureServer.StartOwnAsync();
        var prefix = "r" + Guid.NewGuid().ToString("N")[..8];
        var gate = new GateSerializer();
        await using var a = await Node.StartAsync(server.Endpoint, prefix, build: b => b.WithSerializer(gate));
        await using var b = await Node.StartAsync(server.Endpoint, prefix);
        var ct = TestContext.Current.CancellationToken;
        await b.Cache.InvalidateTagAsync("catalog", ct); // both nodes know the tag

        // A computes from the source before the invalidation and is held just before its store to L2.
        gate.ArmedSerialize = true;
        var fill = Task.Run(() => a.Cache.GetOrSetAsync("item:s", _ => ValueTask.FromResult("old"), Tagged, ct).AsTask(), ct);
        Assert.True(gate.Entered.Wait(TimeSpan.FromSeconds(5), ct), "the fill never reached serialization");
        await b.Cache.InvalidateTagAsync("catalog", ct);
        await Task.Delay(100, ct); // the message lands on A
        gate.Release.Set();
        Assert.Equal("old", await fill);

        await using var c = await Node.StartAsync(server.Endpoint, prefix);
        Assert.Equal("new", await c.Cache.GetOrSetAsync("item:s", _ => ValueTask.FromResult("new"), Tagged, ct));
    }
}
