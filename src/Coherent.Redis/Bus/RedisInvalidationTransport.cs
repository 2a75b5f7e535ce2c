using System.Net;
using Coherent.Redis.Storage;
using Coherent.SharedTier;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Coherent.Redis.Bus;

/// <summary>
/// The invalidation bus's wire on Redis: one pub/sub channel (<c>prefix:bus</c>) and the senders' sequence numbers in the
/// hash <c>prefix:senders</c>. The protocol is the core's <see cref="InvalidationBus"/>; in a <see cref="RedisTier"/> write
/// frames are published by the tier's scripts, in the same step as the write (see <c>RedisTier.Evaluate</c>); a
/// storage-only backend borrowing this transport (<see cref="RedisInvalidation.CreateTransport"/>) publishes them with
/// <see cref="Publish"/> after its write landed.
/// </summary>
internal sealed class RedisInvalidationTransport : IInvalidationTransport
{
    private readonly IConnectionMultiplexer _connection;
    private readonly KeySpace _keys;
    private readonly IRedisCalls _calls;
    private readonly TimeSpan _timeout;
    private readonly ILogger _logger;
    private readonly Func<Task>? _beforeSubscribe;
    private readonly Func<string, bool>? _dropIncoming;
    private readonly bool _watchConnection;
    private ChannelMessageQueue? _queue;

    /// <param name="connection">The connection (not owned).</param>
    /// <param name="keys">The application's names: the channel and the senders' hash.</param>
    /// <param name="calls">How calls are bounded (the tier's breaker, or a timeout alone).</param>
    /// <param name="timeout">Deadline of a subscription change.</param>
    /// <param name="logger">Where a failed read of the senders' numbers is logged.</param>
    /// <param name="watchConnection">
    /// Whether the transport reports its connection's failures itself (<see cref="SubscriptionLost"/>); false inside a
    /// <see cref="RedisTier"/>, whose ConnectionFailed handler calls <see cref="OnConnectionLost"/>.
    /// </param>
    /// <param name="beforeSubscribe">Test hook: awaited before subscribing.</param>
    /// <param name="dropIncoming">Test hook: frames it answers true for are dropped on arrival.</param>
    public RedisInvalidationTransport(IConnectionMultiplexer connection, KeySpace keys, IRedisCalls calls, TimeSpan timeout, ILogger logger,
        bool watchConnection, Func<Task>? beforeSubscribe = null, Func<string, bool>? dropIncoming = null)
    {
        _connection = connection;
        _keys = keys;
        _calls = calls;
        _timeout = timeout;
        _logger = logger;
        _watchConnection = watchConnection;
        _beforeSubscribe = beforeSubscribe;
        _dropIncoming = dropIncoming;
        MayReorder = connection.GetServers().Any(s => s.ServerType == ServerType.Cluster);
    }

    /// <summary>On a Cluster one sender's frames travel through different masters, so they may arrive out of order.</summary>
    public bool MayReorder { get; }

    public event Action<string>? SubscriptionLost;

    /// <summary>For tests: the endpoint the bus subscription uses.</summary>
    public EndPoint? SubscribedEndpoint => _connection.GetSubscriber().SubscribedEndpoint(_keys.Channel);

    /// <summary>Subscribes once (StackExchange.Redis resubscribes by itself after reconnects); messages wait in the queue until the handler is attached.</summary>
    public async Task SubscribeAsync(Action<string> receive, Func<Task> subscribed, CancellationToken cancellationToken)
    {
        if (_beforeSubscribe is { } hold)
        {
            await hold().ConfigureAwait(false);
        }

        var queue = await _connection.GetSubscriber().SubscribeAsync(_keys.Channel).WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
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
            if (_dropIncoming?.Invoke(text) != true)
            {
                receive(text);
            }
        });
        _queue = queue;
        if (_watchConnection)
        {
            _connection.ConnectionFailed += OnConnectionFailed;
        }
    }

    public async Task UnsubscribeAsync(CancellationToken cancellationToken)
    {
        if (_watchConnection)
        {
            _connection.ConnectionFailed -= OnConnectionFailed;
        }

        if (_queue is { } queue)
        {
            await queue.UnsubscribeAsync().WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task PublishOrdered(Func<int, string> frame)
    {
        if (!MayReorder)
        {
            return Publish(frame(1));
        }

        // Cluster: one copy through every master, so the heartbeat follows every master's earlier publications.
        var masters = _connection.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToArray();
        if (masters.Length == 0)
        {
            return Task.CompletedTask;
        }

        var message = frame(masters.Length);
        var channel = _keys.Channel.ToString();
        return _calls.CallAsync(Task.WhenAll(masters.Select(m => m.ExecuteAsync("PUBLISH", channel, message))), CancellationToken.None);
    }

    /// <summary>
    /// One copy, on the channel: on a Cluster any node forwards it to every subscriber, and one sender's write frames leave
    /// one connection in the order they were issued (the bus's send lock), which is the order a standalone server keeps.
    /// </summary>
    public Task Publish(string frame) => _calls.CallAsync(_connection.GetDatabase().PublishAsync(_keys.Channel, frame), CancellationToken.None);

    /// <summary>
    /// The recorded number is never ahead of what was published (it is written under the send lock, after the frames it
    /// counts), so the record can only report a gap too many, never hide one.
    /// </summary>
    public void RecordSequence(string sender, long sequence) =>
        _connection.GetDatabase().HashSet(_keys.Senders, sender, sequence, flags: CommandFlags.FireAndForget);

    public async Task<IReadOnlyList<KeyValuePair<string, long>>> ReadSequencesAsync(CancellationToken cancellationToken)
    {
        try
        {
            var entries = await _calls.CallAsync(_connection.GetDatabase().HashGetAllAsync(_keys.Senders), cancellationToken).ConfigureAwait(false);
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
            RedisLog.ReadFailed(_logger, "(bus sequence baselines)", ex); // senders then start from their first message
            return [];
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) => OnConnectionLost(e.ConnectionType, e.Exception);

    /// <summary>A connection was lost (the tier's ConnectionFailed handler, or this transport's own): messages published meanwhile are lost for good.</summary>
    public void OnConnectionLost(ConnectionType type, Exception? exception) =>
        SubscriptionLost?.Invoke($"{type} connection lost ({exception?.Message ?? "unknown"})");
}
