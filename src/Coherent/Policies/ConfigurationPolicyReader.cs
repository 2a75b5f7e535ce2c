using System.Globalization;
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
        "Families", "Strict", "MaxEntries", "MaxKeyLength", "MaxPayloadBytes", "Name", "Redis", "Caches",
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
            if (child.Key.Equals("Redis", StringComparison.OrdinalIgnoreCase))
            {
                // The core cannot reference Coherent.Redis: WithRedis reads this child when the cache is built. Checked at
                // Build time, not now, because WithRedis may be called after FromConfiguration.
                builder.ExtraValidators.Add(p =>
                {
                    if (builder.DistributedTierFactory is null)
                    {
                        p.Add($"Configuration: '{child.Path}' is configured but the cache has no shared tier: call WithRedis() (package Coherent.Redis).");
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

        if (ParseBool(section, "Strict", problems) is { } strict)
        {
            builder.Strict(strict);
        }

        if (ParseLong(section, "MaxEntries", problems) is { } max)
        {
            builder.LocalCapacityValue = (int)Math.Clamp(max, int.MinValue, int.MaxValue);
        }

        if (ParseLong(section, "MaxKeyLength", problems) is { } keyLength)
        {
            builder.MaxKeyLengthValue = (int)Math.Clamp(keyLength, int.MinValue, int.MaxValue);
        }

        if (ParseLong(section, "MaxPayloadBytes", problems) is { } payload)
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

        if (ParseSpan(s, "MaxStaleness", problems) is { } ms) { p.MaxStaleness(ms); }
        if (ParseSpan(s, "Ttl", problems) is { } ttl) { p.Ttl(ttl); }
        if (ParseSpan(s, "LocalTtl", problems) is { } local) { p.LocalTtl(local); }
        if (ParseDouble(s, "Jitter", problems) is { } jitter) { p.Jitter(jitter); }
        if (ParseSpan(s, "FailSafeMaxAge", problems) is { } fsAge) { p.FailSafeMaxAgeValue = fsAge; }
        if (ParseSpan(s, "FailSafeThrottle", problems) is { } fsThrottle) { p.FailSafeThrottleValue = fsThrottle; }
        if (ParseSpan(s, "SoftTimeout", problems) is { } soft) { p.SoftTimeoutValue = soft; }
        if (ParseSpan(s, "HardTimeout", problems) is { } hard) { p.HardTimeoutValue = hard; }
        if (s["Reason"] is { Length: > 0 } reason) { p.Reason(reason); }
        if (ParseBool(s, "CopyOnRead", problems) is { } copy) { p.CopyOnRead(copy); }
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

    internal static TimeSpan? ParseSpan(IConfiguration s, string key, List<string> problems)
    {
        var raw = s[key];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }

        if (TimeSpan.TryParse(raw, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        problems.Add($"Configuration: '{Path(s, key)}' is not a duration (hh:mm:ss[.fff]); got '{raw}'.");
        return null;
    }

    internal static double? ParseDouble(IConfiguration s, string key, List<string> problems)
    {
        var raw = s[key];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }

        if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        problems.Add($"Configuration: '{Path(s, key)}' is not a number; got '{raw}'.");
        return null;
    }

    internal static long? ParseLong(IConfiguration s, string key, List<string> problems)
    {
        var raw = s[key];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }

        if (long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        problems.Add($"Configuration: '{Path(s, key)}' is not an integer; got '{raw}'.");
        return null;
    }

    internal static bool? ParseBool(IConfiguration s, string key, List<string> problems)
    {
        var raw = s[key];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }

        if (bool.TryParse(raw, out var value))
        {
            return value;
        }

        problems.Add($"Configuration: '{Path(s, key)}' must be true or false; got '{raw}'.");
        return null;
    }

    internal static string Path(IConfiguration s, string key) => s is IConfigurationSection section ? $"{section.Path}:{key}" : key;
}
