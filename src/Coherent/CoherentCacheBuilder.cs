using Coherent.SharedTier;
using Coherent.Policies;
using Coherent.Serialization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coherent;

/// <summary>
/// Describes a <see cref="CoherentCache"/>: family policies, limits, time, logging and (through <c>WithRedis</c>) the
/// shared tier. Every setting is validated once, in <see cref="Build"/>, which throws one
/// <see cref="CoherentConfigurationException"/> listing every problem. Not thread-safe; <see cref="Build"/> may be called
/// more than once, each call making an independent cache.
/// </summary>
public sealed class CoherentCacheBuilder
{
    /// <summary>Default local (L1) capacity in entries.</summary>
    public const int DefaultLocalCapacity = 100_000;

    /// <summary>Default maximum key length in characters.</summary>
    public const int DefaultMaxKeyLength = 1024;

    /// <summary>Default maximum serialized payload in bytes (1 MiB).</summary>
    public const long DefaultMaxPayloadBytes = 1024 * 1024;

    private readonly Dictionary<string, FamilyPolicyBuilder> _families = new(StringComparer.Ordinal);
    private readonly List<string> _configurationProblems = [];
    private readonly FamilyPolicyBuilder _defaultPolicy = new FamilyPolicyBuilder().MaxStaleness(TimeSpan.FromMinutes(1));
    private readonly Lock _buildLock = new();

    internal int LocalCapacityValue { get; set; } = DefaultLocalCapacity;
    internal long LocalMaxWeightValue { get; set; }
    internal Func<string, object?, long>? WeigherValue { get; set; }
    internal int MaxKeyLengthValue { get; set; } = DefaultMaxKeyLength;
    internal long MaxPayloadBytesValue { get; set; } = DefaultMaxPayloadBytes;
    internal bool StrictValue { get; set; }
    internal string NameValue { get; set; } = "default";
    internal TimeProvider TimeProviderValue { get; set; } = TimeProvider.System;

    /// <summary>Tests only: a hit-path clock that lags the time provider, as the coarse clock can under load.</summary>
    internal Func<long>? LaggingHitClockForTests { get; set; }
    internal ILoggerFactory LoggerFactoryValue { get; set; } = NullLoggerFactory.Instance;
    internal ICacheSerializer SerializerValue { get; set; } = JsonCacheSerializer.Default;
    internal Dictionary<Type, object> TypedSerializers { get; } = [];
    internal List<ICacheSerializerFactory> SerializerFactories { get; } = [];

    /// <summary>
    /// Set for a cache that serves HybridCache (<c>AddCoherentHybridCache</c>): values of a mutable type (HybridCache's rule,
    /// <see cref="ImmutableType{T}"/>) are held serialized in L1, as copy-on-read families are, so each caller gets its own.
    /// </summary>
    internal bool CopyMutableValuesValue { get; set; }

    /// <summary>Source of jitter and XFetch coin tosses; tests substitute a seeded one.</summary>
    internal Random RandomValue { get; set; } = Random.Shared;

    /// <summary>Set by <see cref="WithSharedTier"/>; validated and asked for the tier when the cache is built.</summary>
    internal ISharedTierFactory? SharedTierFactoryValue { get; set; }

    /// <summary>Checks the core adds at build time for settings read earlier (configuration sections, keyed caches).</summary>
    internal List<Action<List<string>>> ExtraValidators { get; } = [];

    /// <summary>
    /// The container that builds this cache (set by <c>AddCoherentCache</c>), so that a shared-tier package can reuse a
    /// registered connection (<c>WithRedis()</c> without arguments). Null when built by hand.
    /// </summary>
    internal IServiceProvider? ServiceProvider { get; set; }

    /// <summary>
    /// The container's <see cref="System.Diagnostics.Metrics.IMeterFactory"/> (set by <c>AddCoherentCache</c> when one is
    /// registered): the meter then belongs to the host's metrics pipeline, as .NET's own meters do. Null: the cache makes its own.
    /// </summary>
    internal System.Diagnostics.Metrics.IMeterFactory? MeterFactoryValue { get; set; }

    /// <summary>The service key of a keyed cache (<c>AddKeyedCoherentCache</c>); null for the default cache or one built by hand.</summary>
    internal string? ServiceKey { get; set; }

    /// <summary>The section last given to <see cref="FromConfiguration"/>: the shared-tier packages read their own child of it (<c>Redis</c>).</summary>
    internal IConfiguration? ConfigurationSection { get; set; }

    /// <summary>Declares (or adds to) the policy of <paramref name="family"/>: keys named <c>family:...</c>.</summary>
    public CoherentCacheBuilder Define(string family, Action<FamilyPolicyBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(family);
        ArgumentNullException.ThrowIfNull(configure);
        if (!_families.TryGetValue(family, out var policy))
        {
            _families[family] = policy = new FamilyPolicyBuilder();
        }

        configure(policy);
        return this;
    }

    /// <summary>
    /// The policy applied, in non-strict mode, to keys whose family was not declared. Default: MaxStaleness 1 minute and
    /// the other defaults of <see cref="FamilyPolicy"/>.
    /// </summary>
    public CoherentCacheBuilder DefaultPolicy(Action<FamilyPolicyBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        configure(_defaultPolicy);
        return this;
    }

    /// <summary>Strict mode: a key whose family has no declared policy throws <see cref="UndeclaredFamilyException"/>. Default off.</summary>
    public CoherentCacheBuilder Strict(bool enabled = true)
    {
        StrictValue = enabled;
        return this;
    }

    /// <summary>
    /// Bounds the local tier to <paramref name="maxEntries"/> (default 100,000), evicting by W-TinyLFU. Once full, a value
    /// fetched for a miss is cached on its key's second recent miss (one-off keys, such as a scan, displace nothing);
    /// values written with <c>SetAsync</c> are always cached.
    /// </summary>
    public CoherentCacheBuilder WithLocalCapacity(int maxEntries)
    {
        LocalCapacityValue = maxEntries;
        return this;
    }

    /// <summary>Also bounds the local tier by total weight, as measured by <paramref name="weigher"/> (for example, approximate bytes).</summary>
    public CoherentCacheBuilder WithLocalWeightLimit(long maxWeight, Func<string, object?, long> weigher)
    {
        ArgumentNullException.ThrowIfNull(weigher);
        LocalMaxWeightValue = maxWeight;
        WeigherValue = weigher;
        return this;
    }

    /// <summary>Longest accepted key, in characters. Default 1,024.</summary>
    public CoherentCacheBuilder WithMaxKeyLength(int maxLength)
    {
        MaxKeyLengthValue = maxLength;
        return this;
    }

    /// <summary>Largest accepted serialized value, in bytes, for the shared tier and copy-on-read families. Default 1 MiB.</summary>
    public CoherentCacheBuilder WithMaxPayloadBytes(long maxBytes)
    {
        MaxPayloadBytesValue = maxBytes;
        return this;
    }

    /// <summary>The clock for expiry, jitter, early refresh, fail-safe and timeouts. Default <see cref="TimeProvider.System"/>.</summary>
    public CoherentCacheBuilder WithTimeProvider(TimeProvider timeProvider)
    {
        TimeProviderValue = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        return this;
    }

    /// <summary>Where Coherent logs (category <c>Coherent</c>). Default: no logging.</summary>
    public CoherentCacheBuilder WithLoggerFactory(ILoggerFactory loggerFactory)
    {
        LoggerFactoryValue = loggerFactory ?? throw new ArgumentNullException(nameof(loggerFactory));
        return this;
    }

    /// <summary>
    /// The general serializer for the shared tier and copy-on-read: every type without a per-type serializer
    /// (<see cref="AddSerializer{T}"/>, <see cref="AddSerializerFactory"/>). Default: System.Text.Json (<see cref="JsonCacheSerializer.Default"/>).
    /// </summary>
    public CoherentCacheBuilder WithSerializer(ICacheSerializer serializer)
    {
        SerializerValue = serializer ?? throw new ArgumentNullException(nameof(serializer));
        return this;
    }

    /// <summary>
    /// Serializes exactly <typeparamref name="T"/> with <paramref name="serializer"/>, in place of every factory and the general
    /// serializer (<see cref="WithSerializer"/>). A second registration for the same type replaces the first.
    /// </summary>
    public CoherentCacheBuilder AddSerializer<T>(ICacheSerializer<T> serializer)
    {
        ArgumentNullException.ThrowIfNull(serializer);
        TypedSerializers[typeof(T)] = serializer;
        return this;
    }

    /// <summary>
    /// Adds a factory of per-type serializers. For a type with no <see cref="AddSerializer{T}"/> registration the factories
    /// are asked, the last added first; the first that handles the type serializes it, else the general serializer does.
    /// Asked once per type per cache.
    /// </summary>
    public CoherentCacheBuilder AddSerializerFactory(ICacheSerializerFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        SerializerFactories.Add(factory);
        return this;
    }

    /// <summary>
    /// The shared tier (L2) this cache uses, built by <paramref name="factory"/> when the cache is built. Backend packages
    /// call it for you (<c>WithRedis</c>); a later call replaces an earlier one. See <see cref="ISharedTier"/> for the contract.
    /// </summary>
    public CoherentCacheBuilder WithSharedTier(ISharedTierFactory factory)
    {
        SharedTierFactoryValue = factory ?? throw new ArgumentNullException(nameof(factory));
        return this;
    }

    /// <summary>
    /// Uses an <see cref="Microsoft.Extensions.Caching.Distributed.IDistributedCache"/> (SQL Server, Cosmos DB, ...) as a
    /// storage-only shared tier: <paramref name="cache"/>, or when null the one registered in the container. Keys are stored
    /// under <paramref name="keyPrefix"/> (default <c>coherent:&lt;cache name&gt;:</c>). Such a cache cannot fence a stale set
    /// nor carry invalidations: L1 copies live at most MaxStaleness, and a family whose Ttl exceeds its MaxStaleness is bounded
    /// by its Ttl instead (logged at startup and shown in <see cref="CoherentCache.DescribePolicies"/>); see
    /// <c>docs/guarantees.md</c>. Prefer a Coherent shared tier (<c>WithRedis</c>) where one is available.
    /// </summary>
    public CoherentCacheBuilder WithDistributedCache(Microsoft.Extensions.Caching.Distributed.IDistributedCache? cache = null, string? keyPrefix = null) =>
        WithSharedTier(new DistributedCacheTierFactory(cache, keyPrefix));

    /// <summary>Whether a shared tier is configured (<see cref="WithSharedTier"/>, or a backend package's <c>With…</c> call).</summary>
    public bool HasSharedTier => SharedTierFactoryValue is not null;

    /// <summary>A name for this cache instance, used as the <c>coherent.cache</c> tag on metrics and in logs. Default "default".</summary>
    public CoherentCacheBuilder WithName(string name)
    {
        NameValue = name ?? throw new ArgumentNullException(nameof(name));
        return this;
    }

    /// <summary>
    /// Reads settings from a configuration section (usually <c>configuration.GetSection("Coherent")</c>):
    /// <c>Strict</c>, <c>MaxEntries</c>, <c>MaxKeyLength</c>, <c>MaxPayloadBytes</c>, <c>Name</c> and
    /// <c>Families:&lt;family&gt;:{MaxStaleness, Ttl, LocalTtl, Jitter, EarlyRefresh, FailSafeMaxAge, FailSafeThrottle, SoftTimeout, HardTimeout, Reason, CopyOnRead}</c>.
    /// A <c>Redis</c> child is read by <c>WithRedis</c> (package Coherent.Redis); without it, <see cref="Build"/> reports it.
    /// Values read here override those set in code before this call; unknown or unparsable settings are reported by <see cref="Build"/>.
    /// </summary>
    public CoherentCacheBuilder FromConfiguration(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        ConfigurationPolicyReader.Read(section, this, _configurationProblems);
        return this;
    }

    /// <summary>Validates everything and builds the cache.</summary>
    /// <exception cref="CoherentConfigurationException">Lists every invalid setting.</exception>
    public CoherentCache Build()
    {
        lock (_buildLock)
        {
            var problems = new List<string>(_configurationProblems);
            foreach (var (family, policy) in _families)
            {
                PolicyValidator.Validate(family, policy, problems);
            }

            PolicyValidator.Validate("(default)", _defaultPolicy, problems);
            if (LocalCapacityValue < 1)
            {
                problems.Add($"Local capacity must be at least 1 entry; got {LocalCapacityValue}.");
            }

            if (WeigherValue is not null && LocalMaxWeightValue < 1)
            {
                problems.Add($"Local weight limit must be positive; got {LocalMaxWeightValue}.");
            }

            if (MaxKeyLengthValue is < 1 or > KeyRules.AbsoluteMaxKeyLength)
            {
                problems.Add($"Max key length must be between 1 and {KeyRules.AbsoluteMaxKeyLength}; got {MaxKeyLengthValue}.");
            }

            if (MaxPayloadBytesValue < 1)
            {
                problems.Add($"Max payload must be positive; got {MaxPayloadBytesValue}.");
            }

            foreach (var validate in ExtraValidators)
            {
                validate(problems);
            }

            var sharedTier = SharedTierFactoryValue is null ? null : SharedTierContextFor();
            SharedTierFactoryValue?.Validate(sharedTier!, problems);

            if (problems.Count > 0)
            {
                throw new CoherentConfigurationException(problems);
            }

            var policies = _families.Select(f => new FamilyPolicy(f.Key, f.Value)).ToList();
            var defaultPolicy = new FamilyPolicyBuilder();
            defaultPolicy.CopyFrom(_defaultPolicy);
            var registry = new FamilyRegistry(policies, defaultPolicy, StrictValue);
            return new CoherentCache(this, registry, sharedTier);
        }
    }

    /// <summary>What the shared tier's factory is told about this cache: the declared families, then the default one.</summary>
    private SharedTierContext SharedTierContextFor()
    {
        var families = new List<SharedTierFamily>(_families.Count + 1);
        foreach (var (name, policy) in _families)
        {
            families.Add(new SharedTierFamily(name, policy.MaxStalenessValue ?? TimeSpan.Zero, policy.TtlValue ?? FamilyPolicyBuilder.DefaultTtl));
        }

        families.Add(new SharedTierFamily(SharedTierFamily.DefaultName, _defaultPolicy.MaxStalenessValue ?? TimeSpan.Zero, _defaultPolicy.TtlValue ?? FamilyPolicyBuilder.DefaultTtl));
        return new SharedTierContext(NameValue, ServiceKey is not null, ServiceProvider, ConfigurationSection, TimeProviderValue, LoggerFactoryValue, MaxPayloadBytesValue, families);
    }
}
