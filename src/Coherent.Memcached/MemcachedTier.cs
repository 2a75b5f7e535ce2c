using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using Coherent.Memcached.Store;
using Coherent.SharedTier;
using Microsoft.Extensions.Logging;

namespace Coherent.Memcached;

/// <summary>
/// The shared tier on Memcached (1.6+, meta protocol). The key's epoch is its item's CAS: a fill stores with <c>ms … C&lt;cas&gt;</c>
/// using the CAS of the read that missed (a lease placeholder's), and every write-through and invalidation changes or removes
/// the item, so a fill computed before it fails. Leases are Memcached's own (<c>mg … N</c> → <c>W</c>/<c>Z</c>); tags and
/// clear are <c>ma</c> counters read with the entry in one round trip. No invalidation bus of its own: without a transport
/// lent by another backend the engine keeps L1 copies at most their family's MaxStaleness; with one, the core's bus runs
/// over it (<c>MemcachedTier.Bus.cs</c>). A fail-safe family's item is kept until its retention horizon
/// (<see cref="SharedTierEntry.KeepUntilMs"/>) and read back past its expiry as the stale value of a miss. Reads
/// (<c>MemcachedTier.Reads.cs</c>), writes and the retry queue (<c>MemcachedTier.Writes.cs</c>, <c>MemcachedTier.Retries.cs</c>),
/// leases (<c>MemcachedTier.Leases.cs</c>), versioned keys (<c>MemcachedTier.Versioned.cs</c>).
/// No Memcached exception ever leaves the tier: reads answer Unavailable, writes throw Coherent's typed exceptions.
/// </summary>
internal sealed partial class MemcachedTier : ISharedTier
{
    private readonly MemcachedStore _store;
    private readonly CoherentMemcachedOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly byte[]? _signingKey;
    private readonly long _maxPayloadBytes;
    private readonly Meter _meter;
    private readonly Counter<long> _rejected;
    private readonly CancellationTokenSource _stopping = new();
    private ISharedTierHost? _host;

    public MemcachedTier(MemcachedStore store, CoherentMemcachedOptions options, SharedTierContext context)
    {
        _store = store;
        _options = options;
        _logger = context.LoggerFactory.CreateLogger("Coherent.Memcached");
        _time = context.TimeProvider;
        _maxPayloadBytes = Math.Min(context.MaxPayloadBytes, store.MaxItemBytes);
        _signingKey = options.SigningKey is { } secret
            ? HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes("coherent/envelope/" + options.KeyPrefix))
            : null;
        _meter = new Meter("Coherent");
        _rejected = _meter.CreateCounter<long>("coherent.memcached.rejected_entries", "{entry}", description: "Entries read from Memcached and refused (corrupt, foreign, oversized, unsigned, aliased); each was served as a miss.");
        _queueCollapses = _meter.CreateCounter<long>("coherent.memcached.pending_collapsed", "{collapse}", description: "Times the queue of invalidations waiting for Memcached was full and collapsed into one clear of the whole cache.");
        _meter.CreateObservableUpDownCounter("coherent.memcached.servers_down", () => store.Cluster.Servers.Count(s => s.Health.IsDown), "{server}", description: "Memcached servers marked down (their keys go to the next server on the ring).");
        CacheName = context.CacheName;
        ClaimTransport();
    }

    public string CacheName { get; }

    internal MemcachedStore Store => _store;

    internal CoherentMemcachedOptions Options => _options;

    /// <summary>Entries refused on read, by reason (tests and diagnostics).</summary>
    internal ConcurrentDictionary<SharedTierEnvelopeRejection, long> Rejections { get; } = new();

    /// <summary>Fenced stores, and Memcached's own leases; an invalidation bus only over a lent transport (Memcached has no pub/sub).</summary>
    public SharedTierGuarantees Guarantees => SharedTierGuarantees.FencedStores | SharedTierGuarantees.FleetLeases
        | (HasBus ? SharedTierGuarantees.InvalidationBus | SharedTierGuarantees.AnnouncedAfterWrite : SharedTierGuarantees.None);

    /// <summary>
    /// Unavailable when every server is marked down, degraded when some are (their keys live elsewhere meanwhile) or while
    /// the paired bus is suspect (L1 then falls back to each family's MaxStaleness).
    /// </summary>
    public SharedTierState State
    {
        get
        {
            var servers = _store.Cluster.Servers;
            var down = 0;
            foreach (var server in servers)
            {
                down += server.Health.IsDown ? 1 : 0;
            }

            return down == servers.Count ? SharedTierState.Unavailable
                : down > 0 || _bus is { Suspect: true } ? SharedTierState.Degraded : SharedTierState.Healthy;
        }
    }

    private ISharedTierHost Host => _host ?? throw new InvalidOperationException("The tier is not started.");

    public void Start(ISharedTierHost host)
    {
        _host = host;
        if (_options.InvalidationTransport is { } transport)
        {
            StartBus(host, transport);
        }
        else
        {
            MemcachedLog.NoBus(_logger, CacheName);
        }

        _retries = CreateRetryQueue(host);
        _retries.Start();
    }

    /// <summary>
    /// How long Memcached keeps the item: until its expiry on the engine's clock, or past it while fail-safe may still serve
    /// it (<see cref="SharedTierEntry.KeepUntilMs"/>), plus a second: Memcached counts whole seconds and may expire an item
    /// up to one early.
    /// </summary>
    private TimeSpan StorageTtl(SharedTierEntry entry) => TimeSpan.FromMilliseconds(Math.Max(1, entry.KeepUntilMs - Host.NowMs())) + TimeSpan.FromSeconds(1);

    private void Reject(string key, SharedTierEnvelopeRejection rejection)
    {
        Rejections.AddOrUpdate(rejection, 1, static (_, n) => n + 1);
        _rejected.Add(1, new KeyValuePair<string, object?>("coherent.cache", CacheName), new KeyValuePair<string, object?>("coherent.reason", rejection.ToString().ToLowerInvariant()));
        MemcachedLog.EntryRejected(_logger, key, rejection.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);

        // Queued invalidations would otherwise vanish with the process: one last attempt, and a log line for each that failed.
        // The bus stops after it, so what lands then is still announced.
        if (_retries is not null)
        {
            await _retries.DisposeAsync().ConfigureAwait(false);
        }

        if (_bus is not null)
        {
            await _bus.DisposeAsync().ConfigureAwait(false);
        }

        ReleaseTransport();

        _meter.Dispose();
        await _store.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
