using Coherent.SharedTier;
using Coherent.Policies;
using Microsoft.Extensions.Configuration;

namespace Coherent.Redis;

/// <summary>
/// Reads the <c>Redis</c> child of the cache's configuration section (<c>Coherent:Redis</c>, or
/// <c>Coherent:Caches:&lt;name&gt;:Redis</c>) into <see cref="CoherentRedisOptions"/>. By hand, as the core's reader, so a typo
/// or an unparsable value is a listed problem; every key accepted here sets something.
/// </summary>
internal static class RedisConfigurationReader
{
    public const string ConnectionKey = "Configuration";

    private static readonly HashSet<string> Keys = new(StringComparer.OrdinalIgnoreCase)
    {
        ConnectionKey, "KeyPrefix", "SigningKey", "MaxPayloadBytes", "OperationTimeout", "ConnectTimeout", "HeartbeatInterval",
        "BreakerFailureThreshold", "RetryInterval", "MaxPendingInvalidations", "EpochRetention", "VersionedFamilies", "OldVersionGrace",
        "MaxKeysPerBatch",
    };

    /// <summary>Applies the section to <paramref name="options"/> and returns the configured connection string, if any.</summary>
    public static string? Read(IConfigurationSection section, CoherentRedisOptions options, ICollection<string> problems)
    {
        if (!ConfigurationValues.CheckSection(section, Keys, ConnectionKey, "the connection string", problems))
        {
            return null;
        }

        if (section["KeyPrefix"] is { Length: > 0 } prefix) { options.KeyPrefix = prefix; }
        if (ConfigurationValues.ReadSecret(section, "SigningKey", problems) is { } key) { options.SigningKey = key; }
        if (ConfigurationValues.ReadInt64(section, "MaxPayloadBytes", problems) is { } payload) { options.MaxPayloadBytes = payload; }
        if (ConfigurationValues.ReadDuration(section, "OperationTimeout", problems) is { } op) { options.OperationTimeout = op; }
        if (ConfigurationValues.ReadDuration(section, "ConnectTimeout", problems) is { } connect) { options.ConnectTimeout = connect; }
        if (ConfigurationValues.ReadDuration(section, "HeartbeatInterval", problems) is { } heartbeat) { options.HeartbeatInterval = heartbeat; }
        if (ConfigurationValues.ReadInt32(section, "BreakerFailureThreshold", problems) is { } breaker) { options.BreakerFailureThreshold = breaker; }
        if (ConfigurationValues.ReadDuration(section, "RetryInterval", problems) is { } retry) { options.RetryInterval = retry; }
        if (ConfigurationValues.ReadInt32(section, "MaxPendingInvalidations", problems) is { } pending) { options.MaxPendingInvalidations = pending; }
        if (ConfigurationValues.ReadDuration(section, "EpochRetention", problems) is { } epochs) { options.EpochRetention = epochs; }
        if (ConfigurationValues.ReadDuration(section, "OldVersionGrace", problems) is { } grace) { options.OldVersionGrace = grace; }
        if (ConfigurationValues.ReadInt32(section, "MaxKeysPerBatch", problems) is { } perCommand) { options.MaxKeysPerBatch = perCommand; }
        options.VersionedFamilies.UnionWith(ConfigurationValues.ReadNames(section, "VersionedFamilies"));
        return section[ConnectionKey] is { Length: > 0 } connection ? connection : null;
    }
}
