using Coherent.Memcached.Store;
using Coherent.SharedTier;
using Microsoft.Extensions.Configuration;

namespace Coherent.Memcached;

/// <summary>
/// One <c>WithMemcached</c> call. Resolved when the cache is built, because the configuration section may be given to the
/// builder after it. With a server list (or nothing) in code: defaults, then the <c>Memcached</c> configuration section, then
/// the server list, then the code's callback. With an options object: those options as they are, and no section (a section
/// that is there too is a listed problem, since it would do nothing).
/// </summary>
internal sealed class MemcachedSetup(CoherentCacheBuilder builder, string? servers, CoherentMemcachedOptions? given, Action<CoherentMemcachedOptions>? configure)
    : ISharedTierFactory
{
    private CoherentMemcachedOptions? _options;

    /// <summary>Makes this call the cache's shared tier (a later <c>WithMemcached</c>, <c>WithRedis</c> or <c>WithSharedTier</c> replaces it).</summary>
    public CoherentCacheBuilder Attach() => builder.WithSharedTier(this);

    public void Validate(SharedTierContext context, ICollection<string> problems)
    {
        var section = context.Configuration?.GetSection("Memcached");
        var hasSection = section is not null && section.Exists();
        if (given is not null)
        {
            if (hasSection)
            {
                problems.Add($"Configuration: '{section!.Path}' is set but WithMemcached(...) was given an options object in code: remove one (the code's would win, and the section would do nothing).");
            }

            _options = given;
            given.Validate(problems);
            CheckVersionedFamilies(given, context, problems);
            return;
        }

        // A keyed cache gets its own prefix by default, so two keyed caches on one server never share keys.
        var options = new CoherentMemcachedOptions();
        if (context.IsKeyed)
        {
            options.KeyPrefix = context.CacheName;
        }

        if (hasSection)
        {
            MemcachedConfigurationReader.Read(section!, options, problems);
        }

        if (servers is not null)
        {
            if (hasSection && !string.IsNullOrEmpty(section![MemcachedConfigurationReader.ServersKey]))
            {
                problems.Add($"Configuration: '{section!.Path}:{MemcachedConfigurationReader.ServersKey}' is set but WithMemcached(...) was given servers in code: remove one (the code's would win, and the setting would do nothing).");
            }

            options.Servers = servers;
        }
        else if (string.IsNullOrWhiteSpace(options.Servers))
        {
            problems.Add($"WithMemcached() has no servers: '{section?.Path ?? "Coherent:Memcached"}:{MemcachedConfigurationReader.ServersKey}' is not set; set it, or pass host:port[,host:port…] to WithMemcached(...).");
            _options = options;
            return;
        }

        configure?.Invoke(options);
        options.Validate(problems);
        CheckVersionedFamilies(options, context, problems);
        _options = options;
    }

    private static void CheckVersionedFamilies(CoherentMemcachedOptions options, SharedTierContext context, ICollection<string> problems) =>
        ConfigurationValues.CheckDeclaredFamilies(problems, "Memcached", nameof(options.VersionedFamilies), options.VersionedFamilies, context);

    public ISharedTier Create(SharedTierContext context)
    {
        var options = _options ?? throw new InvalidOperationException("WithMemcached was not validated before the tier was built.");

        // Building is synchronous (Build()); the store's start reads each server's item size limit, bounded by the
        // operation timeout per server, and falls back to 1 MB when none answers (a server down at build time is no error).
        var store = Task.Run(() => MemcachedStore.CreateAsync(options, context.TimeProvider)).GetAwaiter().GetResult();
        try
        {
            return new MemcachedTier(store, options, context);
        }
        catch
        {
            // The transport was claimed by another cache since validation: do not leak the connections just opened.
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }
}
