using System.Net;
using Coherent.SharedTier;
using StackExchange.Redis;

namespace Coherent.Redis.Bus;

/// <summary>
/// The invalidation bus's wire on Redis: one pub/sub channel (<c>prefix:bus</c>) and the senders' sequence numbers in the
/// hash <c>prefix:senders</c>. The protocol is the core's <see cref="InvalidationBus"/>; write frames are published by the
/// tier's scripts, in the same step as the write (see <c>RedisTier.Evaluate</c>).
/// </summary>
internal sealed class RedisInvalidationTransport : IInvalidationTransport
{
    private readonly RedisTier _tier;
    private readonly IConnectionMultiplexer _connection;
    private readonly CoherentRedisOptions _options;
    private ChannelMessageQueue? _queue;

    public RedisInvalidationTransport(RedisTier tier, IConnectionMultiplexer connection, CoherentRedisOptions options)
    {
        _tier = tier;
        _connection = connection;
        _options = options;
        MayReorder = connection.GetServers().Any(s => s.ServerType == ServerType.Cluster);
    }

    /// <summary>On a Cluster one sender's frames travel through different masters, so they may arrive out of order.</summary>
    public bool MayReorder { get; }

    public event Action<string>? SubscriptionLost;

    /// <summary>For tests: the endpoint the bus subscription uses.</summary>
    public EndPoint? SubscribedEndpoint => _connection.GetSubscriber().SubscribedEndpoint(_tier.Keys.Channel);

    /// <summary>Subscribes once (StackExchange.Redis resubscribes by itself after reconnects); messages wait in the queue until the handler is attached.</summary>
    public async Task SubscribeAsync(Action<string> receive, Func<Task> subscribed, CancellationToken cancellationToken)
    {
        if (_options.BeforeSubscribe is { } hold)
        {
            await hold().ConfigureAwait(false);
        }

        var queue = await _connection.GetSubscriber().SubscribeAsync(_tier.Keys.Channel).WaitAsync(_options.OperationTimeout, cancellationToken).ConfigureAwait(false);
        try
        {
            await subscribed().ConfigureAwait(false);
        }
        catch
        {
            await queue.UnsubscribeAsync().ConfigureAwait(false);
            throw;
        }

        queue.OnMessage(message =>
        {
            var text = (string)message.Message!;
            if (_options.DropIncomingMessage?.Invoke(text) != true)
            {
                receive(text);
            }
        });
        _queue = queue;
    }

    public async Task UnsubscribeAsync(CancellationToken cancellationToken)
    {
        if (_queue is { } queue)
        {
            await queue.UnsubscribeAsync().WaitAsync(_options.OperationTimeout, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task PublishOrdered(Func<int, string> frame)
    {
        if (!MayReorder)
        {
            return _tier.CallAsync(_tier.Database.PublishAsync(_tier.Keys.Channel, frame(1)), CancellationToken.None);
        }

        // Cluster: one copy through every master, so the heartbeat follows every master's earlier publications.
        var masters = _connection.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToArray();
        if (masters.Length == 0)
        {
            return Task.CompletedTask;
        }

        var message = frame(masters.Length);
        var channel = _tier.Keys.Channel.ToString();
        return _tier.CallAsync(Task.WhenAll(masters.Select(m => m.ExecuteAsync("PUBLISH", channel, message))), CancellationToken.None);
    }

    /// <summary>
    /// The recorded number is never ahead of what was published (it is written under the send lock, after the frames it
    /// counts), so the record can only report a gap too many, never hide one.
    /// </summary>
    public void RecordSequence(string sender, long sequence) =>
        _tier.Database.HashSet(_tier.Keys.Senders, sender, sequence, flags: CommandFlags.FireAndForget);

    public async Task<IReadOnlyList<KeyValuePair<string, long>>> ReadSequencesAsync(CancellationToken cancellationToken)
    {
        try
        {
            var entries = await _tier.CallAsync(_tier.Database.HashGetAllAsync(_tier.Keys.Senders), cancellationToken).ConfigureAwait(false);
            var sequences = new List<KeyValuePair<string, long>>(entries.Length);
            foreach (var entry in entries)
            {
                if (entry.Value.TryParse(out long seq) && seq >= 0)
                {
                    sequences.Add(new KeyValuePair<string, long>(entry.Name.ToString(), seq));
                }
            }

            return sequences;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            RedisLog.ReadFailed(_tier.Logger, "(bus sequence baselines)", ex); // senders then start from their first message
            return [];
        }
    }

    /// <summary>A connection was lost (the tier's ConnectionFailed handler): messages published meanwhile are lost for good.</summary>
    public void OnConnectionLost(ConnectionType type, Exception? exception) =>
        SubscriptionLost?.Invoke($"{type} connection lost ({exception?.Message ?? "unknown"})");
}
