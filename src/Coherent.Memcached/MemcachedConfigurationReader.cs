using Coherent.SharedTier;
using Microsoft.Extensions.Configuration;

namespace Coherent.Memcached;

/// <summary>
/// Reads the <c>Memcached</c> child of the cache's configuration section (<c>Coherent:Memcached</c>, or
/// <c>Coherent:Caches:&lt;name&gt;:Memcached</c>) into <see cref="CoherentMemcachedOptions"/>, as the Redis reader does: a
/// typo or an unparsable value is a listed problem, and every key accepted here sets something.
/// </summary>
internal static class MemcachedConfigurationReader
{
    public const string ServersKey = "Servers";

    private static readonly HashSet<string> Keys = new(StringComparer.OrdinalIgnoreCase)
    {
        ServersKey, "KeyPrefix", "SigningKey", "MaxItemBytes", "OperationTimeout", "ConnectTimeout", "PoolSize",
        "BreakerFailureThreshold", "ProbeInterval", "FlushOnReadmit", "RetryInterval", "MaxPendingInvalidations", "MaxKeysPerBatch",
        "HeartbeatInterval", "VersionedFamilies", "OldVersionGrace",
    };

    public static void Read(IConfigurationSection section, CoherentMemcachedOptions options, ICollection<string> problems)
    {
        if (!ConfigurationValues.CheckSection(section, Keys, ServersKey, "the servers", problems))
        {
            return;
        }

        // Either one "host:port,host:port" value or a list (Servers:0, Servers:1, ...).
        var servers = section.GetSection(ServersKey);
        var list = servers.GetChildren().Select(c => c.Value).Append(servers.Value).Where(v => !string.IsNullOrWhiteSpace(v)).ToArray();
        if (list.Length > 0) { options.Servers = string.Join(",", list); }
        if (section["KeyPrefix"] is { Length: > 0 } prefix) { options.KeyPrefix = prefix; }
        if (ConfigurationValues.ReadSecret(section, "SigningKey", problems) is { } key) { options.SigningKey = key; }
        if (ConfigurationValues.ReadInt64(section, "MaxItemBytes", problems) is { } item) { options.MaxItemBytes = item; }
        if (ConfigurationValues.ReadDuration(section, "OperationTimeout", problems) is { } op) { options.OperationTimeout = op; }
        if (ConfigurationValues.ReadDuration(section, "ConnectTimeout", problems) is { } connect) { options.ConnectTimeout = connect; }
        if (ConfigurationValues.ReadInt32(section, "PoolSize", problems) is { } pool) { options.PoolSize = pool; }
        if (ConfigurationValues.ReadInt32(section, "BreakerFailureThreshold", problems) is { } breaker) { options.BreakerFailureThreshold = breaker; }
        if (ConfigurationValues.ReadDuration(section, "ProbeInterval", problems) is { } probe) { options.ProbeInterval = probe; }
        if (ConfigurationValues.ReadBoolean(section, "FlushOnReadmit", problems) is { } flush) { options.FlushOnReadmit = flush; }
        if (ConfigurationValues.ReadDuration(section, "RetryInterval", problems) is { } retry) { options.RetryInterval = retry; }
        if (ConfigurationValues.ReadInt32(section, "MaxPendingInvalidations", problems) is { } pending) { options.MaxPendingInvalidations = pending; }
        if (ConfigurationValues.ReadInt32(section, "MaxKeysPerBatch", problems) is { } perBatch) { options.MaxKeysPerBatch = perBatch; }
        if (ConfigurationValues.ReadDuration(section, "HeartbeatInterval", problems) is { } heartbeat) { options.HeartbeatInterval = heartbeat; }
        if (ConfigurationValues.ReadDuration(section, "OldVersionGrace", problems) is { } grace) { options.OldVersionGrace = grace; }
        options.VersionedFamilies.UnionWith(ConfigurationValues.ReadNames(section, "VersionedFamilies"));
    }
}
