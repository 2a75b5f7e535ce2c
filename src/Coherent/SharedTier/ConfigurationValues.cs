using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Coherent.SharedTier;

/// <summary>
/// Reads typed settings from a configuration section the way the core reads its own: an unset value is null, an
/// unparsable one adds a problem naming the setting's path and its value (for one startup error listing every problem).
/// For backend packages reading their section (<see cref="SharedTierContext.Configuration"/>).
/// </summary>
public static class ConfigurationValues
{
    /// <summary>The duration at <paramref name="key"/> (hh:mm:ss[.fff]); null when unset; a problem naming the setting when unparsable.</summary>
    public static TimeSpan? ReadDuration(IConfiguration s, string key, ICollection<string> problems)
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

    /// <summary>The number at <paramref name="key"/> (invariant culture); null when unset; a problem naming the setting when unparsable.</summary>
    public static double? ReadDouble(IConfiguration s, string key, ICollection<string> problems)
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

    /// <summary>As <see cref="ReadInt64"/>, clamped to the range of an <see cref="int"/> (the options' validation then reports a value out of its own range).</summary>
    public static int? ReadInt32(IConfiguration s, string key, ICollection<string> problems) =>
        ReadInt64(s, key, problems) is { } value ? (int)Math.Clamp(value, int.MinValue, int.MaxValue) : null;

    /// <summary>
    /// A secret at <paramref name="key"/>, base64 so a secret store (user secrets, Key Vault, environment) can hold it; null
    /// when unset; a problem naming the setting when not base64 — never echoing the value.
    /// </summary>
    public static byte[]? ReadSecret(IConfiguration s, string key, ICollection<string> problems)
    {
        if (s[key] is not { Length: > 0 } raw)
        {
            return null;
        }

        try
        {
            return Convert.FromBase64String(raw);
        }
        catch (FormatException)
        {
            problems.Add($"Configuration: '{Path(s, key)}' is not base64 (value not shown: it is a secret).");
            return null;
        }
    }

    /// <summary>
    /// A backend's section as one shape only: a plain value where the section belongs is a problem that says to put it at
    /// <paramref name="mainKey"/> (returns false: read nothing else), and every key outside <paramref name="known"/> is a
    /// problem listing the known ones. <paramref name="what"/> names what the main key holds, for the message.
    /// </summary>
    public static bool CheckSection(IConfigurationSection section, IReadOnlySet<string> known, string mainKey, string what, ICollection<string> problems)
    {
        ArgumentNullException.ThrowIfNull(section);
        if (section.Value is not null && !section.GetChildren().Any())
        {
            problems.Add($"Configuration: '{section.Path}' must be a section; put {what} in '{section.Path}:{mainKey}'.");
            return false;
        }

        foreach (var child in section.GetChildren())
        {
            if (!known.Contains(child.Key))
            {
                problems.Add($"Configuration: unknown setting '{child.Path}' (known: {string.Join(", ", known)}).");
            }
        }

        return true;
    }

    /// <summary>
    /// The names at <paramref name="key"/>: either a list (<c>key:0</c>, <c>key:1</c>, ...) or one comma-separated value,
    /// trimmed, empty ones dropped; empty when unset.
    /// </summary>
    public static IReadOnlyList<string> ReadNames(IConfiguration s, string key)
    {
        ArgumentNullException.ThrowIfNull(s);
        var section = s.GetSection(key);
        var values = section.GetChildren().Select(c => c.Value).Append(section.Value);
        return values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToArray();
    }

    /// <summary>
    /// Adds a problem for each of <paramref name="families"/> that is not a family declared on the cache (the default
    /// family does not count): only a declared family resolves alike on every node, so a backend setting keyed on an
    /// undeclared one (versioned keys) would apply on some nodes and not others. <paramref name="owner"/> names the backend
    /// and <paramref name="setting"/> the option, for the message.
    /// </summary>
    public static void CheckDeclaredFamilies(ICollection<string> problems, string owner, string setting, IEnumerable<string> families, SharedTierContext context)
    {
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentNullException.ThrowIfNull(families);
        ArgumentNullException.ThrowIfNull(context);
        foreach (var family in families.Where(f => !context.Families.Any(d => d.Name == f && d.Name != SharedTierFamily.DefaultName)))
        {
            problems.Add($"{owner}: versioned family '{family}' is not declared on the cache: declare it (Define(\"{family}\", ...)) or remove it from {setting}.");
        }
    }

    /// <summary>The integer at <paramref name="key"/>; null when unset; a problem naming the setting when unparsable.</summary>
    public static long? ReadInt64(IConfiguration s, string key, ICollection<string> problems)
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

    /// <summary>The true/false at <paramref name="key"/>; null when unset; a problem naming the setting when unparsable.</summary>
    public static bool? ReadBoolean(IConfiguration s, string key, ICollection<string> problems)
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

    /// <summary>The full path of <paramref name="key"/> under <paramref name="s"/>, as problems name it.</summary>
    public static string Path(IConfiguration s, string key) => s is IConfigurationSection section ? $"{section.Path}:{key}" : key;

    /// <summary>Adds a problem naming <paramref name="owner"/>'s setting <paramref name="name"/> unless it is positive and at most <paramref name="max"/>.</summary>
    public static void CheckDuration(ICollection<string> problems, string owner, string name, TimeSpan value, TimeSpan max)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (value <= TimeSpan.Zero || value > max)
        {
            problems.Add($"{owner} {name} must be positive and at most {max}; got {value}.");
        }
    }
}
