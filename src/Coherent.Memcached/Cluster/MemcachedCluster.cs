using System.Runtime.ExceptionServices;
using Coherent.Memcached.Connections;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Cluster;

/// <summary>
/// The servers of one deployment behind a consistent hash ring. Each request goes to the live server that owns its key;
/// a server whose breaker opened is skipped (its keys go to the next live server on the ring) and probed every
/// <see cref="ClientSettings.ProbeInterval"/> on a fresh connection; when a probe answers, the server is emptied
/// (<c>flush_all</c>, when <c>flushOnReadmit</c>: while it was out, writes and invalidations for its keys went elsewhere, so
/// anything it still holds may be stale) and re-admitted.
/// </summary>
internal sealed class MemcachedCluster : IAsyncDisposable
{
    private readonly HashRing<ServerNode> _ring;
    private readonly ClientSettings _settings;
    private readonly bool _flushOnReadmit;
    private readonly ITimer _prober;
    private int _probing;

    public MemcachedCluster(IReadOnlyList<ServerAddress> servers, ClientSettings settings, bool flushOnReadmit)
    {
        _settings = settings;
        _flushOnReadmit = flushOnReadmit;
        Servers = servers.Select(s => new ServerNode(s, settings)).ToArray();
        _ring = new HashRing<ServerNode>(Servers.Select(s => (s, s.Name, s.Address.Weight)).ToArray());
        _prober = settings.Time.CreateTimer(static c => _ = ((MemcachedCluster)c!).ProbeDownServersAsync(), this, settings.ProbeInterval, settings.ProbeInterval);
    }

    public IReadOnlyList<ServerNode> Servers { get; }

    public ClientSettings Settings => _settings;

    /// <summary>Raised after a down server answered its probe and was re-admitted.</summary>
    public event Action<ServerNode>? Readmitted;

    /// <summary>The live server for a key (as sent: the base64 form); throws <see cref="ServerUnavailableException"/> when none is live.</summary>
    public ServerNode Route(ReadOnlySpan<byte> key) =>
        _ring.Locate(key, static s => s.Health.IsDown)
        ?? throw new ServerUnavailableException($"Every Memcached server ({string.Join(", ", Servers.Select(s => s.Name))}) is marked down.");

    /// <summary>The server that owns a key when all are up (for tests and diagnostics).</summary>
    public ServerNode Owner(ReadOnlySpan<byte> key) => _ring.Owner(key);

    public Task<MetaResponse> SendAsync(MetaRequest request, CancellationToken cancellationToken = default) =>
        Route(request.Key).SendAsync(request, cancellationToken);

    /// <summary>
    /// Sends requests for keys on possibly different servers: one batch (one round trip) per server, all servers at once;
    /// the answers come back in request order. Any server's failure fails the call.
    /// </summary>
    public async Task<MetaResponse[]> SendManyAsync(MetaRequest[] requests, CancellationToken cancellationToken = default)
    {
        var first = Route(requests[0].Key);
        var sameServer = true;
        for (var i = 1; i < requests.Length && sameServer; i++)
        {
            sameServer = ReferenceEquals(Route(requests[i].Key), first);
        }

        if (sameServer)
        {
            return await first.SendBatchAsync(requests, cancellationToken).ConfigureAwait(false);
        }

        var answers = await SendPerServerAsync(requests, cancellationToken).ConfigureAwait(false);
        var responses = new MetaResponse[answers.Length];
        for (var i = 0; i < answers.Length; i++)
        {
            if (answers[i].Failure is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }

            responses[i] = answers[i].Response!;
        }

        return responses;
    }

    /// <summary>Each server's requests in batches of at most <paramref name="max"/>.</summary>
    private static IEnumerable<(ServerNode Server, List<int> Indexes)> Split(Dictionary<ServerNode, List<int>> groups, int max) =>
        groups.SelectMany(g => g.Value.Count <= max ? [(g.Key, g.Value)] : g.Value.Chunk(max).Select(c => (g.Key, c.ToList())));

    /// <summary>
    /// Sends requests for keys on possibly different servers, one batch (one write, one deadline, one round trip) per server,
    /// all servers at once, and answers each request, in request order, with its response or with its server's failure: a
    /// server that fails (or that no live server stands in for) fails only its own requests. A server's only request is sent
    /// alone. A server's share over <see cref="ClientSettings.MaxKeysPerBatch"/> requests is split into batches of at most that
    /// many, sent together (each with its own deadline): a large bulk call is split, never refused, and no one reply grows
    /// without bound.
    /// </summary>
    public async Task<ServerAnswer[]> SendPerServerAsync(MetaRequest[] requests, CancellationToken cancellationToken = default)
    {
        var answers = new ServerAnswer[requests.Length];
        var groups = new Dictionary<ServerNode, List<int>>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < requests.Length; i++)
        {
            ServerNode server;
            try
            {
                server = Route(requests[i].Key);
            }
            catch (ServerUnavailableException ex)
            {
                answers[i] = new ServerAnswer(null, ex);
                continue;
            }

            if (!groups.TryGetValue(server, out var indexes))
            {
                groups[server] = indexes = [];
            }

            indexes.Add(i);
        }

        var sends = new List<(List<int> Indexes, Task<MetaResponse[]> Send)>(groups.Count);
        foreach (var (server, indexes) in Split(groups, _settings.MaxKeysPerBatch))
        {
            var batch = new MetaRequest[indexes.Count];
            for (var j = 0; j < batch.Length; j++)
            {
                batch[j] = requests[indexes[j]];
            }

            // One request goes alone: the same round trip without the batch's closing mn (a single store is a batch of one).
            sends.Add((indexes, batch is [{ IsQuiet: false } only] ? SendAloneAsync(server, only, cancellationToken) : server.SendBatchAsync(batch, cancellationToken)));
        }

        foreach (var (indexes, send) in sends)
        {
            try
            {
                var responses = await send.ConfigureAwait(false);
                for (var j = 0; j < indexes.Count; j++)
                {
                    answers[indexes[j]] = new ServerAnswer(responses[j], null);
                }
            }
            catch (Exception ex) when (ex is MemcachedException or OperationCanceledException or ObjectDisposedException)
            {
                foreach (var index in indexes)
                {
                    answers[index] = new ServerAnswer(null, ex);
                }
            }
        }

        return answers;
    }

    private static async Task<MetaResponse[]> SendAloneAsync(ServerNode server, MetaRequest request, CancellationToken cancellationToken) =>
        [await server.SendAsync(request, cancellationToken).ConfigureAwait(false)];

    /// <summary>Probes every down server once now (the timer does this every probe interval).</summary>
    public async Task ProbeDownServersAsync()
    {
        if (Interlocked.Exchange(ref _probing, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (var server in Servers.Where(s => s.Health.IsDown))
            {
                try
                {
                    var endPoint = server.Address.EndPoint;
                    if (!await AdminCommand.ProbeAsync(endPoint, _settings.OperationTimeout, _settings.Time).ConfigureAwait(false))
                    {
                        continue;
                    }

                    if (_flushOnReadmit)
                    {
                        await AdminCommand.FlushAsync(endPoint, _settings.OperationTimeout, _settings.Time).ConfigureAwait(false);
                    }

                    server.DropConnections();
                    server.Health.Readmit();
                    Readmitted?.Invoke(server);
                }
                catch (MemcachedException)
                {
                    // still down: probed again next interval
                }
            }
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }
    }

    /// <summary>The smallest <c>item_size_max</c> any reachable server reports, or null when none answers.</summary>
    public async Task<long?> ReadItemSizeMaxAsync(CancellationToken cancellationToken = default)
    {
        long? smallest = null;
        foreach (var server in Servers)
        {
            try
            {
                var size = await AdminCommand.ReadItemSizeMaxAsync(server.Address.EndPoint, _settings.OperationTimeout, _settings.Time, cancellationToken).ConfigureAwait(false);
                if (size is { } s && (smallest is null || s < smallest))
                {
                    smallest = s;
                }
            }
            catch (MemcachedException)
            {
                // unreachable now: the others decide, else the default
            }
        }

        return smallest;
    }

    public async ValueTask DisposeAsync()
    {
        await _prober.DisposeAsync().ConfigureAwait(false);
        foreach (var server in Servers)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>One request's answer from a batch sent to several servers: its response, or the failure of its server's batch.</summary>
internal readonly record struct ServerAnswer(MetaResponse? Response, Exception? Failure);
