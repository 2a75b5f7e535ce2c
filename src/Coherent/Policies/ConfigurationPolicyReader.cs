using System.Globalization;
using Coherent.SharedTier;
using Microsoft.Extensions.Configuration;

namespace Coherent.Policies;

/// <summary>
/// Reads <c>Coherent:*</c> settings. Parsed by hand rather than with the reflection binder so that a typo or an
/// unparsable value becomes a listed problem naming the exact setting, instead of a silently ignored key.
/// </summary>
internal static class ConfigurationPolicyReader
{
    private static readonly HashSet<string> FamilyKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "MaxStaleness", "Ttl", "LocalTtl", "Jitter", "EarlyRefresh", "FailSafeMaxAge", "FailSafeThrottle",
        "SoftTimeout", "HardTimeout", "Reason", "CopyOnRead",
    };

    private static readonly HashSet<string> RootKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "Families", "Strict", "MaxEntries", "MaxKeyLength", "MaxPayloadBytes", "Name", "Redis", "Memcached", "Caches",
    };

    /// <summary>Settings people expect here that the core does not read: a problem each, never silently ignored.</summary>
    private static readonly Dictionary<string, string> NotReadHere = new(StringComparer.OrdinalIgnoreCase)
    {
        ["KeyPrefix"] = "the key prefix belongs to the shared tier: set 'Coherent:Redis:KeyPrefix' (or CoherentRedisOptions.KeyPrefix in WithRedis(...))",
        ["SigningKey"] = "the signing key belongs to the shared tier: set 'Coherent:Redis:SigningKey'",
    };

    public static void Read(IConfiguration section, CoherentCacheBuilder builder, List<string> problems)
    {
        builder.ConfigurationSection = section;
        foreach (var child in section.GetChildren())
        {
            if (child.Key.Equals("Redis", StringComparison.OrdinalIgnoreCase) || child.Key.Equals("Memcached", StringComparison.OrdinalIgnoreCase))
            {
                // The core cannot reference the backend packages: WithRedis / WithMemcached read this child when the cache is
                // built. Checked at Build time, not now, because they may be called after FromConfiguration.
                var call = child.Key.Equals("Redis", StringComparison.OrdinalIgnoreCase) ? "WithRedis() (package Coherent.Redis)" : "WithMemcached() (package Coherent.Memcached)";
                builder.ExtraValidators.Add(p =>
                {
                    if (builder.SharedTierFactoryValue is null)
                    {
                        p.Add($"Configuration: '{child.Path}' is configured but the cache has no shared tier: call {call}.");
                    }
                });
            }
            else if (child.Key.Equals("Caches", StringComparison.OrdinalIgnoreCase))
            {
                // Read by AddKeyedCoherentCache, one child per keyed cache; the DI startup check reports a child without one.
                // Anywhere else (a keyed cache's own section, a builder made by hand) nothing would read it.
                if (builder.ServiceProvider is null || builder.ServiceKey is not null)
                {
                    problems.Add($"Configuration: '{child.Path}' is not read here: keyed caches read 'Coherent:Caches:<name>' only when registered with services.AddKeyedCoherentCache(name, ...).");
                }
            }
            else if (NotReadHere.TryGetValue(child.Key, out var instead))
            {
                problems.Add($"Configuration: '{child.Path}' is not read ({instead}).");
            }
            else if (!RootKeys.Contains(child.Key))
            {
                problems.Add($"Configuration: unknown setting '{child.Path}' (known: {string.Join(", ", RootKeys)}).");
            }
        }

        if (ConfigurationValues.ReadBoolean(section, "Strict", problems) is { } strict)
        {
            builder.Strict(strict);
        }

        if (ConfigurationValues.ReadInt64(section, "MaxEntries", problems) is { } max)
        {
            builder.LocalCapacityValue = (int)Math.Clamp(max, int.MinValue, int.MaxValue);
        }

        if (ConfigurationValues.ReadInt64(section, "MaxKeyLength", problems) is { } keyLength)
        {
            builder.MaxKeyLengthValue = (int)Math.Clamp(keyLength, int.MinValue, int.MaxValue);
        }

        if (ConfigurationValues.ReadInt64(section, "MaxPayloadBytes", problems) is { } payload)
        {
            builder.MaxPayloadBytesValue = payload;
        }

        if (section["Name"] is { Length: > 0 } name)
        {
            builder.WithName(name);
        }

        foreach (var family in section.GetSection("Families").GetChildren())
        {
            builder.Define(family.Key, p => ReadFamily(family, p, problems));
        }
    }

    private static void ReadFamily(IConfigurationSection s, FamilyPolicyBuilder p, List<string> problems)
    {
        foreach (var child in s.GetChildren())
        {
            if (!FamilyKeys.Contains(child.Key))
            {
                problems.Add($"Configuration: unknown setting '{child.Path}' (known: {string.Join(", ", FamilyKeys)}).");
            }
        }

        if (ConfigurationValues.ReadDuration(s, "MaxStaleness", problems) is { } ms) { p.MaxStaleness(ms); }
        if (ConfigurationValues.ReadDuration(s, "Ttl", problems) is { } ttl) { p.Ttl(ttl); }
        if (ConfigurationValues.ReadDuration(s, "LocalTtl", problems) is { } local) { p.LocalTtl(local); }
        if (ConfigurationValues.ReadDouble(s, "Jitter", problems) is { } jitter) { p.Jitter(jitter); }
        if (ConfigurationValues.ReadDuration(s, "FailSafeMaxAge", problems) is { } fsAge) { p.FailSafeMaxAgeValue = fsAge; }
        if (ConfigurationValues.ReadDuration(s, "FailSafeThrottle", problems) is { } fsThrottle) { p.FailSafeThrottleValue = fsThrottle; }
        if (ConfigurationValues.ReadDuration(s, "SoftTimeout", problems) is { } soft) { p.SoftTimeoutValue = soft; }
        if (ConfigurationValues.ReadDuration(s, "HardTimeout", problems) is { } hard) { p.HardTimeoutValue = hard; }
        if (s["Reason"] is { Length: > 0 } reason) { p.Reason(reason); }
        if (ConfigurationValues.ReadBoolean(s, "CopyOnRead", problems) is { } copy) { p.CopyOnRead(copy); }
        if (s["EarlyRefresh"] is { Length: > 0 } early)
        {
            if (early.Equals("off", StringComparison.OrdinalIgnoreCase) || early.Equals("false", StringComparison.OrdinalIgnoreCase))
            {
                p.NoEarlyRefresh();
            }
            else if (double.TryParse(early, NumberStyles.Float, CultureInfo.InvariantCulture, out var beta))
            {
                p.EarlyRefresh(beta);
            }
            else
            {
                problems.Add($"Configuration: '{s.Path}:EarlyRefresh' must be 'off' or a beta number; got '{early}'.");
            }
        }
    }
}
