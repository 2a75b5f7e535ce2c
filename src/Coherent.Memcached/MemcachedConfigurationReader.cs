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
        "BreakerFailureThreshold", "ProbeInterval", "FlushOnReadmit", "RetryInterval", "MaxPendingInvalidations",
        "HeartbeatInterval",
    };

    public static void Read(IConfigurationSection section, CoherentMemcachedOptions options, ICollection<string> problems)
    {
        if (section.Value is not null && !section.GetChildren().Any())
        {
            // "Coherent:Memcached": "host:11211" reads naturally but would hide where the rest goes: one shape only.
            problems.Add($"Configuration: '{section.Path}' must be a section; put the servers in '{section.Path}:{ServersKey}'.");
            return;
        }

        foreach (var child in section.GetChildren())
        {
            if (!Keys.Contains(child.Key))
            {
                problems.Add($"Configuration: unknown setting '{child.Path}' (known: {string.Join(", ", Keys)}).");
            }
        }

        // Either one "host:port,host:port" value or a list (Servers:0, Servers:1, ...).
        var servers = section.GetSection(ServersKey);
        var list = servers.GetChildren().Select(c => c.Value).Append(servers.Value).Where(v => !string.IsNullOrWhiteSpace(v)).ToArray();
        if (list.Length > 0) { options.Servers = string.Join(",", list); }
        if (section["KeyPrefix"] is { Length: > 0 } prefix) { options.KeyPrefix = prefix; }
        if (ReadSigningKey(section, problems) is { } key) { options.SigningKey = key; }
        if (ConfigurationValues.ReadInt64(section, "MaxItemBytes", problems) is { } item) { options.MaxItemBytes = item; }
        if (ConfigurationValues.ReadDuration(section, "OperationTimeout", problems) is { } op) { options.OperationTimeout = op; }
        if (ConfigurationValues.ReadDuration(section, "ConnectTimeout", problems) is { } connect) { options.ConnectTimeout = connect; }
        if (ConfigurationValues.ReadInt64(section, "PoolSize", problems) is { } pool) { options.PoolSize = Clamp(pool); }
        if (ConfigurationValues.ReadInt64(section, "BreakerFailureThreshold", problems) is { } breaker) { options.BreakerFailureThreshold = Clamp(breaker); }
        if (ConfigurationValues.ReadDuration(section, "ProbeInterval", problems) is { } probe) { options.ProbeInterval = probe; }
        if (ConfigurationValues.ReadBoolean(section, "FlushOnReadmit", problems) is { } flush) { options.FlushOnReadmit = flush; }
        if (ConfigurationValues.ReadDuration(section, "RetryInterval", problems) is { } retry) { options.RetryInterval = retry; }
        if (ConfigurationValues.ReadInt64(section, "MaxPendingInvalidations", problems) is { } pending) { options.MaxPendingInvalidations = Clamp(pending); }
        if (ConfigurationValues.ReadDuration(section, "HeartbeatInterval", problems) is { } heartbeat) { options.HeartbeatInterval = heartbeat; }
    }

    /// <summary>Base64, so a secret store can hold it; the value is never echoed in a problem.</summary>
    private static byte[]? ReadSigningKey(IConfigurationSection section, ICollection<string> problems)
    {
        if (section["SigningKey"] is not { Length: > 0 } raw)
        {
            return null;
        }

        try
        {
            return Convert.FromBase64String(raw);
        }
        catch (FormatException)
        {
            problems.Add($"Configuration: '{section.Path}:SigningKey' is not base64 (value not shown: it is a secret).");
            return null;
        }
    }

    private static int Clamp(long value) => (int)Math.Clamp(value, int.MinValue, int.MaxValue);
}
