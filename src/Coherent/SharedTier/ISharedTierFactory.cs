using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Coherent.SharedTier;

/// <summary>
/// Builds a cache's shared tier: given to <see cref="CoherentCacheBuilder.WithSharedTier"/> by a backend package
/// (<c>WithRedis</c> is one). <see cref="Validate"/> runs inside <see cref="CoherentCacheBuilder.Build"/>, with every other
/// setting, so one <see cref="CoherentConfigurationException"/> lists the backend's problems with the rest; <see cref="Create"/>
/// runs only when nothing was reported.
/// </summary>
public interface ISharedTierFactory
{
    /// <summary>Checks the backend's settings (options, configuration section, connection) and adds each problem found.</summary>
    void Validate(SharedTierContext context, ICollection<string> problems);

    /// <summary>Creates the tier (not yet started: the cache calls <see cref="ISharedTier.Start"/>).</summary>
    ISharedTier Create(SharedTierContext context);
}

/// <summary>What a shared-tier factory knows about the cache being built.</summary>
public sealed class SharedTierContext
{
    internal SharedTierContext(string cacheName, bool isKeyed, IServiceProvider? services, IConfiguration? configuration, TimeProvider timeProvider, ILoggerFactory loggerFactory, long maxPayloadBytes, IReadOnlyList<SharedTierFamily> families)
    {
        CacheName = cacheName;
        IsKeyed = isKeyed;
        Services = services;
        Configuration = configuration;
        TimeProvider = timeProvider;
        LoggerFactory = loggerFactory;
        MaxPayloadBytes = maxPayloadBytes;
        Families = families;
    }

    /// <summary>The cache's name (<see cref="CoherentCacheBuilder.WithName"/>, or the service key of a keyed cache).</summary>
    public string CacheName { get; }

    /// <summary>Whether the cache is a keyed service (its backend should then keep its keys apart from other caches' by default).</summary>
    public bool IsKeyed { get; }

    /// <summary>The container building the cache (<c>AddCoherentCache</c>), or null when built by hand.</summary>
    public IServiceProvider? Services { get; }

    /// <summary>The cache's configuration section (<see cref="CoherentCacheBuilder.FromConfiguration"/>), or null.</summary>
    public IConfiguration? Configuration { get; }

    /// <summary>The cache's time provider.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>The cache's logger factory.</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>The cache's payload limit in bytes (a backend may have a smaller one of its own).</summary>
    public long MaxPayloadBytes { get; }

    /// <summary>The families declared on the cache, with the default family.</summary>
    public IReadOnlyList<SharedTierFamily> Families { get; }
}
