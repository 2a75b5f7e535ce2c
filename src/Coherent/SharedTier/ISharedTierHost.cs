using Microsoft.Extensions.Logging;

namespace Coherent.SharedTier;

/// <summary>
/// What the cache gives its shared tier when it starts it: the engine's clock, the families, and the callbacks through
/// which a tier that carries an invalidation bus reports what other nodes did. Implemented by the cache.
/// </summary>
public interface ISharedTierHost
{
    /// <summary>
    /// The engine's clock, in Unix milliseconds: anchored to the wall clock once, then advanced by the monotonic timestamp,
    /// so a wall-clock step neither stretches nor shortens a time to live. Entry times (<see cref="SharedTierEntry"/>) are on it.
    /// </summary>
    long NowMs();

    /// <summary>The cache's time provider: timers and timeouts go through it, never through the system clock.</summary>
    TimeProvider TimeProvider { get; }

    /// <summary>The cache's logger (category "Coherent"), for events the engine and the tier report together.</summary>
    ILogger Logger { get; }

    /// <summary>The families declared on the cache, and the default family, as their policies stand.</summary>
    IReadOnlyList<SharedTierFamily> Families { get; }

    /// <summary>Another node invalidated or overwrote the key: the engine drops it from L1 and fences running factories.</summary>
    void OnRemoteInvalidated(string key);

    /// <summary>An invalidation of <paramref name="key"/> published <paramref name="lagMs"/> ago (sender's clock) arrived: the lag histogram.</summary>
    void RecordInvalidationLag(string key, double lagMs);

    /// <summary>Another node invalidated a tag.</summary>
    void OnRemoteTagInvalidated(string tag);

    /// <summary>Another node cleared the cache.</summary>
    void OnRemoteCleared();

    /// <summary>
    /// Every invalidation published before this instant (<see cref="NowMs"/> scale, this node) has been received. The
    /// engine serves an L1 entry only while max(fetched-at, confirmed-up-to) + MaxStaleness is in the future; a tier that
    /// never calls this leaves L1 copies at most MaxStaleness old.
    /// </summary>
    void SetConfirmedUpTo(long ms);

    /// <summary>Drops every L1 entry fetched before <paramref name="ms"/> (after an outage or a message gap); returns how many.</summary>
    int DropLocalEntriesFetchedBefore(long ms);
}

/// <summary>A family as a shared tier sees it: its name and the bounds a backend may need to check its own timing against.</summary>
/// <param name="Name">The family's name (<see cref="DefaultName"/> for keys of no declared family).</param>
/// <param name="MaxStaleness">The longest a reader may see an old value.</param>
/// <param name="Ttl">How long a value is fresh.</param>
public sealed record SharedTierFamily(string Name, TimeSpan MaxStaleness, TimeSpan Ttl)
{
    /// <summary>The name the default family goes by in <see cref="SharedTierKey.Family"/>.</summary>
    public const string DefaultName = "(default)";
}
