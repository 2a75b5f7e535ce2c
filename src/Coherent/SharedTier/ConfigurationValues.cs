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
