using StackExchange.Redis;

namespace Coherent.Testing;

/// <summary>
/// The nodes of a history run: each its own connection (through its own TCP proxy when a single server is used), its own
/// cache and its readers, and the switches the fault schedule flips on it. Nodes can join while the run goes on.
/// </summary>
internal sealed class ProofFleet(HistoryRunOptions o, IFaultableServer? server, IReadOnlyList<string>? clusterEndpoints, SourceOfTruth store, History history,
    CancellationToken cancellationToken) : IAsyncDisposable
{
    public const int Normal = 0, Throwing = 1, Slow = 2;

    private static readonly string[] Families = ["acct", "prod", "cat"];
    private readonly CacheEntryOptions[] _groupOptions = Enumerable.Range(0, o.TagGroups).Select(g => new CacheEntryOptions { Tags = [$"grp{g}"] }).ToArray();
    private readonly List<PartitionProxy> _proxies = [];
    private readonly List<ConnectionMultiplexer> _muxes = [];
    private readonly List<CoherentCache> _caches = [];
    private readonly List<NodeSwitches> _switches = [];
    private readonly List<Task> _readers = [];
    private readonly Lock _lock = new();
    private long _operations;

    /// <summary>What the schedule can change on one node.</summary>
    public sealed class NodeSwitches
    {
        public int FactoryMode;
        public int DropVersionMessages;
    }

    /// <summary>The nodes' wall clock: stepped by <see cref="FaultKind.WallClockStepped"/>, monotonic time runs on.</summary>
    public SteppableWallClock Clock { get; } = new();

    public IReadOnlyList<CoherentCache> Caches
    {
        get
        {
            lock (_lock)
            {
                return _caches.ToList();
            }
        }
    }

    public double Deadline { get; private set; } = double.MaxValue;

    public long Operations => Interlocked.Read(ref _operations);

    public void CountOperation() => Interlocked.Increment(ref _operations);

    public PartitionProxy? Proxy(int node) => node < _proxies.Count ? _proxies[node] : null;

    public NodeSwitches? Switches(int node)
    {
        lock (_lock)
        {
            return node < _switches.Count ? _switches[node] : null;
        }
    }

    public CacheEntryOptions? OptionsFor(string key)
    {
        if (!key.StartsWith("cat:", StringComparison.Ordinal))
        {
            return null;
        }

        var i = int.Parse(key.AsSpan(4), System.Globalization.CultureInfo.InvariantCulture);
        return _groupOptions[i % o.TagGroups];
    }

    /// <summary>Builds a node; once the run has started, its readers start at once (it serves before its bus is up).</summary>
    public async Task<int> AddNodeAsync()
    {
        int n;
        lock (_lock)
        {
            n = _caches.Count;
        }

        string endpoints;
        if (server is not null)
        {
            var proxy = new PartitionProxy(() => server.Endpoint);
            _proxies.Add(proxy);
            endpoints = proxy.Endpoint;
        }
        else
        {
            endpoints = string.Join(",", clusterEndpoints ?? throw new ArgumentException("A server or cluster endpoints are needed."));
        }

        var switches = new NodeSwitches();
        var builder = new CoherentCacheBuilder()
            .WithName($"proof-{n}")
            .WithTimeProvider(Clock)
            .Strict()
            .Define("acct", p => p.MaxStaleness(o.MaxStaleness).Ttl(o.Ttl).Timeouts(hard: o.HardTimeout)
                .Reason("invalidate-after-write family of the history run"))
            .Define("prod", p => p.MaxStaleness(o.MaxStaleness).Ttl(o.Ttl).NoEarlyRefresh().Timeouts(hard: o.HardTimeout)
                .Reason("versioned, write-through family of the history run"))
            .Define("cat", p => p.MaxStaleness(o.MaxStaleness).Ttl(o.Ttl).NoEarlyRefresh().Timeouts(soft: TimeSpan.FromMilliseconds(50), hard: o.HardTimeout)
                .FailSafe(o.Ttl, TimeSpan.FromMilliseconds(200)).Reason("tagged family with fail-safe of the history run"));
        ConnectionMultiplexer? mux = null;
        if (o.SharedTier is { } attach)
        {
            attach(builder, endpoints);
        }
        else
        {
            mux = await ConnectionMultiplexer.ConnectAsync(RedisAdmin.Options(endpoints));
            builder.WithRedis(mux, r =>
            {
                r.KeyPrefix = o.KeyPrefix;
                r.VersionedFamilies.Add("prod");
                r.OldVersionGrace = TimeSpan.FromSeconds(2);
                r.DropIncomingMessage = m => Volatile.Read(ref switches.DropVersionMessages) == 1
                    && (m.StartsWith("T|", StringComparison.Ordinal) || m.StartsWith("C|", StringComparison.Ordinal));
            });
        }

        var cache = builder.Build();
        lock (_lock)
        {
            if (mux is not null)
            {
                _muxes.Add(mux);
            }

            _caches.Add(cache);
            _switches.Add(switches);
            if (Deadline < double.MaxValue)
            {
                StartReaders(cache, n, switches);
            }
        }

        return n;
    }

    /// <summary>Starts every node's readers, reading until <paramref name="deadline"/> (ProofClock ms).</summary>
    public void StartReading(double deadline)
    {
        lock (_lock)
        {
            Deadline = deadline;
            for (var n = 0; n < _caches.Count; n++)
            {
                StartReaders(_caches[n], n, _switches[n]);
            }
        }
    }

    public async Task ReadersFinishedAsync()
    {
        Task[] readers;
        lock (_lock)
        {
            readers = [.. _readers];
        }

        await Task.WhenAll(readers);
    }

    private void StartReaders(CoherentCache cache, int n, NodeSwitches switches)
    {
        for (var r = 0; r < o.ReadersPerNode; r++)
        {
            var seed = (n * 31) + r;
            _readers.Add(Task.Run(() => ReadLoopAsync(cache, n, switches, seed), cancellationToken));
        }
    }

    private async Task ReadLoopAsync(CoherentCache cache, int n, NodeSwitches switches, int seed)
    {
        var random = new Random(seed);
        while (ProofClock.NowMs < Deadline && !cancellationToken.IsCancellationRequested)
        {
            if (random.NextDouble() < o.BulkReadShare)
            {
                await BulkReadAsync(cache, n, switches, random);
                CountOperation();
                await Task.Delay(1, CancellationToken.None);
                continue;
            }

            var family = Families[random.Next(Families.Length)];
            var key = $"{family}:{random.Next(o.KeysPerFamily)}";
            var start = ProofClock.NowMs;
            try
            {
                var v = await cache.GetOrSetAsync(key, (store, key, switches, o.SlowBy), static async (s, ct) =>
                {
                    var mode = Volatile.Read(ref s.switches.FactoryMode);
                    if (mode == Throwing)
                    {
                        throw new InvalidOperationException("injected factory failure");
                    }

                    var version = await s.store.ReadVersionAsync(s.key, ct);
                    if (mode == Slow)
                    {
                        await Task.Delay(s.SlowBy, ct);
                    }

                    return version;
                }, OptionsFor(key), cancellationToken);
                history.Read(new ReadRecord(n, key, family, v, start, ProofClock.NowMs, null));
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                history.Read(new ReadRecord(n, key, family, -1, start, ProofClock.NowMs, ex.GetType().Name));
            }

            CountOperation();
            await Task.Delay(1, CancellationToken.None);
        }
    }

    /// <summary>
    /// A bulk read of up to <see cref="HistoryRunOptions.BulkKeys"/> keys of one family (a <c>cat</c> batch takes one tag group,
    /// whose keys share their options): every key it returns is recorded as a read over the call's whole span.
    /// </summary>
    private async Task BulkReadAsync(CoherentCache cache, int n, NodeSwitches switches, Random random)
    {
        var family = Families[random.Next(Families.Length)];
        var group = random.Next(o.TagGroups);
        var keys = Enumerable.Range(0, o.BulkKeys)
            .Select(_ => family == "cat" ? group + (o.TagGroups * random.Next(Math.Max(1, o.KeysPerFamily / o.TagGroups))) : random.Next(o.KeysPerFamily))
            .Where(i => i < o.KeysPerFamily).Distinct().Select(i => $"{family}:{i}").ToArray();
        var start = ProofClock.NowMs;
        try
        {
            var values = await cache.GetOrSetManyAsync<long>(keys, async (asked, ct) =>
            {
                var mode = Volatile.Read(ref switches.FactoryMode);
                if (mode == Throwing)
                {
                    throw new InvalidOperationException("injected factory failure");
                }

                var found = new Dictionary<string, long>(asked.Count, StringComparer.Ordinal);
                foreach (var key in asked)
                {
                    found[key] = await store.ReadVersionAsync(key, ct);
                }

                if (mode == Slow)
                {
                    await Task.Delay(o.SlowBy, ct);
                }

                return found;
            }, family == "cat" ? _groupOptions[group] : null, cancellationToken);
            var end = ProofClock.NowMs;
            foreach (var (key, version) in values)
            {
                history.Read(new ReadRecord(n, key, family, version, start, end, null));
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            var end = ProofClock.NowMs;
            foreach (var key in keys)
            {
                history.Read(new ReadRecord(n, key, family, -1, start, end, ex.GetType().Name));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var cache in Caches)
        {
            await cache.DisposeAsync();
        }

        foreach (var mux in _muxes)
        {
            await mux.DisposeAsync();
        }

        foreach (var proxy in _proxies)
        {
            await proxy.DisposeAsync();
        }
    }
}

/// <summary>
/// The system clock with a wall-clock offset the proof can step (as NTP or a resumed VM would), while the monotonic
/// timestamp and timers go on untouched.
/// </summary>
public sealed class SteppableWallClock : TimeProvider
{
    private long _offsetTicks;

    public void Step(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
}
