using System.Collections.Concurrent;

namespace Coherent.Redis.Tests;

/// <summary>
/// The Redis bus transport a storage-only backend borrows (<see cref="RedisInvalidation.CreateTransport"/>), on its own
/// redis-server (it is killed): frames published on one connection reach a subscriber on another, sequence records are
/// kept, and a lost connection is reported without any tier watching it.
/// </summary>
public sealed class RedisInvalidationTransportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CreateTransport_lists_every_problem_with_its_settings()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        using var connection = await server.ConnectAsync();

        var ex = Assert.Throws<CoherentConfigurationException>(() => RedisInvalidation.CreateTransport(connection, "bad prefix", TimeSpan.Zero));
        Assert.Equal(2, ex.Problems.Count);
        Assert.Contains(ex.Problems, p => p.Contains("key prefix", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("OperationTimeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_borrowed_transport_carries_frames_keeps_sequences_and_reports_a_lost_connection()
    {
        await using var server = await RedisProcess.StartForTestAsync();
        using var sending = await server.ConnectAsync();
        using var receiving = await server.ConnectAsync();
        var prefix = KeyPrefix.New("rt");
        var sender = RedisInvalidation.CreateTransport(sending, prefix, TimeSpan.FromMilliseconds(500));
        var receiver = RedisInvalidation.CreateTransport(receiving, prefix, TimeSpan.FromMilliseconds(500));
        var frames = new ConcurrentQueue<string>();
        var lost = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.SubscriptionLost += reason => lost.TrySetResult(reason);
        await receiver.SubscribeAsync(frames.Enqueue, () => Task.CompletedTask, Ct);

        await sender.Publish("I|a|1|0|k1");
        await sender.Publish("I|a|2|0|k2");
        sender.RecordSequence("a", 2);
        await Eventually.TrueAsync(() => frames.Count == 2, TimeSpan.FromSeconds(5), "the published frames did not arrive");
        Assert.Equal(["I|a|1|0|k1", "I|a|2|0|k2"], frames.ToArray()); // one copy each, in publication order
        await Eventually.TrueAsync(async () => (await receiver.ReadSequencesAsync(Ct)).Contains(new KeyValuePair<string, long>("a", 2)),
            TimeSpan.FromSeconds(5), "the sender's sequence was not recorded");

        server.Kill();
        Assert.Contains("connection lost", await lost.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct), StringComparison.Ordinal);
    }
}
