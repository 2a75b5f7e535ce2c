using Coherent.Memcached;

namespace Coherent;

/// <summary>
/// Adds the Memcached shared tier (L2 with fenced stores and fleet leases; no invalidation bus of its own, so L1 copies live
/// at most their family's max-staleness unless <see cref="CoherentMemcachedOptions.InvalidationTransport"/> lends one) to a <see cref="CoherentCacheBuilder"/>, by hand or inside <c>AddCoherentCache(...)</c>.
/// Settings are read and validated when the cache is built, and every problem is listed in one
/// <see cref="CoherentConfigurationException"/>.
/// </summary>
public static class MemcachedBuilderExtensions
{
    /// <summary>
    /// Uses the Memcached servers <paramref name="servers"/> (<c>host:port[,host:port…]</c>; see
    /// <see cref="CoherentMemcachedOptions.Servers"/>) as the shared tier. Applies, in order, the defaults, the <c>Memcached</c>
    /// child of the builder's configuration section (<c>Coherent:Memcached</c>), the servers, then <paramref name="configure"/>.
    /// A server that is down at build time is not an error: its keys go to the others until it answers.
    /// </summary>
    public static CoherentCacheBuilder WithMemcached(this CoherentCacheBuilder builder, string servers, Action<CoherentMemcachedOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(servers);
        return new MemcachedSetup(builder, servers, given: null, configure).Attach();
    }

    /// <summary>Uses Memcached with exactly these options (a <c>Coherent:Memcached</c> configuration section as well is a reported problem).</summary>
    public static CoherentCacheBuilder WithMemcached(this CoherentCacheBuilder builder, CoherentMemcachedOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        return new MemcachedSetup(builder, servers: null, options, configure: null).Attach();
    }

    /// <summary>
    /// Uses the servers in <c>Coherent:Memcached:Servers</c> (the builder's configuration section, as set by
    /// <c>AddCoherentCache</c> or <see cref="CoherentCacheBuilder.FromConfiguration"/>), then <paramref name="configure"/>.
    /// Without servers, building the cache throws a <see cref="CoherentConfigurationException"/> saying so. A keyed cache's
    /// key prefix defaults to its name.
    /// </summary>
    public static CoherentCacheBuilder WithMemcached(this CoherentCacheBuilder builder, Action<CoherentMemcachedOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return new MemcachedSetup(builder, servers: null, given: null, configure).Attach();
    }
}
