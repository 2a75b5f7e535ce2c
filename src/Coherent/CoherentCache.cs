using System.Diagnostics.Metrics;
using Coherent.Engine;
using Coherent.SharedTier;
using Coherent.Invalidation;
using Coherent.Local;
using Coherent.Policies;
using Coherent.Serialization;
using Coherent.Stampede;
using Coherent.Telemetry;
using Microsoft.Extensions.Logging;

namespace Coherent;

/// <summary>
/// The Coherent cache: a bounded in-process tier (W-TinyLFU), optional shared tier, single-flight factories, early
/// refresh, fail-safe and invalidation fencing, all governed by per-family policies. Build with
/// <see cref="CoherentCacheBuilder"/>. Thread-safe. Dispose to stop timers and the shared tier's connections.
/// </summary>
/// <remarks>The concurrency design is described in <c>docs/concurrency.md</c>.</remarks>
public sealed partial class CoherentCache : ICoherentCache, IAsyncDisposable, IDisposable, ISharedTierHost
{
    private readonly FamilyRegistry _families;
    private readonly L1Store _l1;
    private readonly CacheClock _clock;
    private readonly InvalidationGate _gate;

    /// <summary>The gate's tag table, held here too: the hit path reads its clear version with one load fewer.</summary>
    private readonly TagTable _tags;
    private readonly CoherentTelemetry _telemetry;
    private readonly CacheEvents _events;
    private readonly EntryBuilder _entries;
    private readonly SharedTierClient? _shared;

    /// <summary>The telemetry's served-age histogram, held here: the hit path checks it is listened to, one load, not two.</summary>
    private readonly Histogram<double> _servedAge;
    private readonly ILogger _logger;
    private readonly ISharedTier? _tier;
    private readonly ITimer _sweeper;
    private readonly Random _random;
    private readonly int _maxKeyLength;

    /// <summary>The HybridCache adapter bypasses keys over this length rather than let the cache throw.</summary>
    internal int MaxKeyLength => _maxKeyLength;

    /// <summary>The adapter logs what it bypasses under the cache's own category, so one filter covers both.</summary>
    internal ILogger Logger => _logger;
    private readonly CancellationTokenSource _disposing = new();
    private readonly IReadOnlyList<SharedTierFamily> _sharedTierFamilies = [];
    private long _confirmedUpToMs = long.MaxValue;
    private int _disposed;

    internal CoherentCache(CoherentCacheBuilder builder, FamilyRegistry families, SharedTierContext? sharedTier = null)
    {
        _families = families;
        _clock = new CacheClock(builder.TimeProviderValue, builder.LaggingHitClockForTests);
        _logger = builder.LoggerFactoryValue.CreateLogger("Coherent");
        var serializer = SerializerSet.Create(builder.SerializerValue, builder.TypedSerializers, builder.SerializerFactories);
        _maxKeyLength = builder.MaxKeyLengthValue;
        _random = builder.RandomValue;
        Name = builder.NameValue;
        // L1 before telemetry: the meter's instruments are published (and may be observed by a listener) while
        // CoherentTelemetry is constructed, and the l1-entries callback reads _l1. Nothing is evicted before construction ends.
        _l1 = new L1Store(builder.LocalCapacityValue, builder.LocalMaxWeightValue, builder.WeigherValue, _ => _telemetry!.Evictions.Increment());
        _telemetry = new CoherentTelemetry(Name, families, () => _l1.Count, () => PendingInvalidations, builder.MeterFactoryValue);
        _servedAge = _telemetry.ServedAge;
        _events = new CacheEvents(_telemetry, _logger, _clock);
        _entries = new EntryBuilder(serializer, _random, builder.MaxPayloadBytesValue, builder.CopyMutableValuesValue);
        _gate = new InvalidationGate(_l1, _events);
        _tags = _gate.Tags;

        // Entries are kept past expiry for fail-safe; the sweep drops those past retention so memory follows the live set.
        _sweeper = _clock.TimeProvider.CreateTimer(static s => ((CoherentCache)s!).Sweep(), this, SweepInterval, SweepInterval);

        if (builder.SharedTierFactoryValue is { } tierFactory && sharedTier is not null)
        {
            _sharedTierFamilies = sharedTier.Families;
            _tier = tierFactory.Create(sharedTier);
            _shared = new SharedTierClient(_tier, _events, _disposing);
            _confirmedUpToMs = _clock.PreciseNowMs();
            _tier.Start(this);
        }
    }

    internal static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);

    /// <summary>The name given with <see cref="CoherentCacheBuilder.WithName"/> (default "default").</summary>
    public string Name { get; }

    /// <summary>Whether a shared tier (L2 and bus) is configured.</summary>
    public bool HasSharedTier => _tier is not null;

    /// <summary>State of the shared tier (L2 and invalidation bus), or <see cref="SharedTierState.None"/> without one.</summary>
    public SharedTierState SharedTierState => _tier?.State ?? SharedTierState.None;

    /// <summary>Entries currently held in the local tier.</summary>
    public int LocalCount => _l1.Count;

    /// <summary>Invalidations that failed to reach the shared tier and are being retried.</summary>
    public long PendingInvalidations => _tier?.PendingInvalidations ?? 0;

    internal CacheClock Clock => _clock;

    /// <summary>Internal, not private, only because a flight peeks at the entry it refreshes (<c>Flight&lt;TState,T&gt;</c>); tests use <see cref="Diagnostics"/>.</summary>
    internal L1Store Local => _l1;

    private FlightTable Flights => _gate.Flights;

    internal TagTable Tags => _tags;

    /// <summary>The invalidation coordinator: the only judge of what may enter L1 or L2. Internal for the flights that ask it; tests use <see cref="Diagnostics"/>.</summary>
    internal InvalidationGate Gate => _gate;

    /// <summary>The seam through which tests, the harness and the benchmarks look into the engine (allocates nothing).</summary>
    internal CacheDiagnostics Diagnostics => new(_l1, _gate, _tier);

    internal CacheEvents Events => _events;

    internal EntryBuilder Entries => _entries;

    /// <summary>The engine's calls into the shared tier; null without one.</summary>
    internal SharedTierClient? Shared => _shared;

    internal bool IsDisposed => Volatile.Read(ref _disposed) == 1;

    internal FamilyRegistry Families => _families;

    long ISharedTierHost.NowMs() => _clock.PreciseNowMs();

    TimeProvider ISharedTierHost.TimeProvider => _clock.TimeProvider;

    ILogger ISharedTierHost.Logger => _logger;

    IReadOnlyList<SharedTierFamily> ISharedTierHost.Families => _sharedTierFamilies;

    /// <inheritdoc />
    public PolicyReport DescribePolicies() => PolicyReport.From(_families, _tier?.Guarantees);

    /// <inheritdoc />
    public AdvisorReport Advise() => CacheAdvisor.Analyze(_families);

    /// <summary>
    /// Drops L1 entries that are past their fail-safe retention, or invalidated by a tag or clear, and applies the hits
    /// the LFU recorded since the last write (its maintenance otherwise runs on writes).
    /// </summary>
    internal int Sweep()
    {
        _l1.Maintain();
        var now = _clock.PreciseNowMs();
        var clear = _tags.ClearVersion;
        return _l1.RemoveWhere(static (e, s) => e.RetainUntilMs <= s.now || !e.IsValid(s.clear), (now, clear));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        await _sweeper.DisposeAsync().ConfigureAwait(false);
        if (_tier is not null)
        {
            await _tier.DisposeAsync().ConfigureAwait(false);
        }

        // Empty L1 so the hit path (which does not check for disposal, to stay lean) misses and throws ObjectDisposedException.
        _l1.Clear();
        _clock.Dispose();
        _telemetry.Dispose();
        _disposing.Dispose();
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}

/// <summary>State of a cache's shared tier, for health checks and diagnostics.</summary>
public enum SharedTierState
{
    /// <summary>No shared tier is configured: a single-node cache.</summary>
    None,

    /// <summary>L2 reachable and the invalidation bus confirmed.</summary>
    Healthy,

    /// <summary>Reachable but impaired (bus unconfirmed, or recovering): local entries are served only within MaxStaleness.</summary>
    Degraded,

    /// <summary>L2 unreachable (circuit open): reads run from L1 and factories; invalidations are retried.</summary>
    Unavailable,
}
