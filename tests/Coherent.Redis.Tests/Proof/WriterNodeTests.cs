using Coherent.Redis.Tests.Infrastructure;

namespace Coherent.Redis.Tests.Proof;

/// <summary>
/// The writer's own node (issue 11, hole 3). A write fences the key's flights and empties L1 before its Redis call, and the
/// node ignores its own bus message; so a flight that started after that fence and read L2 before the write landed could
/// put the old value back into the writer's L1 after the write returned — served (and confirmed by every heartbeat) until
/// the key's next invalidation. Replayed here in the bad order with a gating serializer.
/// </summary>
public sealed class WriterNodeTests
{
    private static string NewPrefix() => KeyPrefix.New("w");

    [Fact]
    public async Task A_read_racing_the_nodes_own_SetAsync_never_leaves_the_old_value_in_its_L1()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var gate = new GateSerializer();
        await using var a = await Node.StartAsync(server.Endpoint, NewPrefix(), build: b => b.WithSerializer(gate));
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.SetAsync("item:w", "old", cancellationToken: ct);
        a.Cache.Diagnostics.DropAllLocal(); // the next read of A goes to L2

        // The writer is held after its fence, before its Redis call.
        gate.OnSerialize.Arm();
        var write = Task.Run(() => a.Cache.SetAsync("item:w", "new", cancellationToken: ct).AsTask(), ct);
        Assert.True(gate.OnSerialize.WaitEntered(TimeSpan.FromSeconds(30), ct), "the write never reached serialization");

        // A reader starts after the fence, reads the old value from L2 and is held before it fills L1.
        gate.OnDeserialize.Arm();
        var read = Task.Run(() => a.Cache.GetOrSetAsync("item:w", _ => ValueTask.FromResult("computed"), cancellationToken: ct).AsTask(), ct);
        Assert.True(gate.OnDeserialize.WaitEntered(TimeSpan.FromSeconds(30), ct), "the read never reached deserialization");

        // The write lands and returns first; then the reader fills.
        gate.OnSerialize.Open();
        await write;
        gate.OnDeserialize.Open();
        await read; // concurrent with the write: this caller may get either value

        Assert.Equal("new", await a.Cache.GetOrSetAsync("item:w", _ => ValueTask.FromResult("computed"), cancellationToken: ct));
        await Task.Delay(2 * Node.MaxStaleness, ct); // heartbeats keep confirming whatever A holds
        Assert.Equal("new", await a.Cache.GetOrSetAsync("item:w", _ => ValueTask.FromResult("computed"), cancellationToken: ct));
    }

    [Fact]
    public async Task A_read_racing_the_nodes_own_InvalidateAsync_never_leaves_the_old_value_in_its_L1()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        var gate = new GateSerializer();
        var holdWrite = new ManualResetEventSlim(true);
        await using var a = await Node.StartAsync(server.Endpoint, NewPrefix(), o => o.BeforeWrite = _ => holdWrite.Wait(TimeSpan.FromSeconds(10)),
            build: b => b.WithSerializer(gate));
        var ct = TestContext.Current.CancellationToken;
        await a.Cache.SetAsync("item:i", "old", cancellationToken: ct);

        // The invalidation is held after its fence and L1 removal, before its Redis call.
        holdWrite.Reset();
        var invalidate = Task.Run(() => a.Cache.InvalidateAsync("item:i", ct).AsTask(), ct);
        await Eventually.TrueAsync(() => !a.HasLocal("item:i"), TimeSpan.FromSeconds(5), "the invalidation never emptied L1");

        gate.OnDeserialize.Arm();
        var read = Task.Run(() => a.Cache.GetOrSetAsync("item:i", _ => ValueTask.FromResult("computed"), cancellationToken: ct).AsTask(), ct);
        Assert.True(gate.OnDeserialize.WaitEntered(TimeSpan.FromSeconds(30), ct), "the read never reached deserialization");

        holdWrite.Set();
        await invalidate;
        gate.OnDeserialize.Open();
        await read;

        Assert.Equal("computed", await a.Cache.GetOrSetAsync("item:i", _ => ValueTask.FromResult("computed"), cancellationToken: ct));
    }
}
