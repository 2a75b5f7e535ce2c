using System.Globalization;

namespace Coherent.Invalidation;

/// <summary>
/// Bus messages: small text frames, never the value. <c>I|sender|seq|sentAtMs|key</c> (invalidated or overwritten),
/// <c>T|sender|seq|tag|version</c>, <c>C|sender|seq|version</c>, <c>H|sender|lastSeq|sentAtMs|copies|id</c> (heartbeat),
/// <c>F|key</c> (filled or lease released: wake waiters). The key or tag is last (or before a numeric last field) so it may
/// contain any character.
/// </summary>
internal static class BusMessage
{
    public static string Invalidate(string sender, long seq, long sentAtMs, string key) => string.Create(CultureInfo.InvariantCulture, $"I|{sender}|{seq}|{sentAtMs}|{key}");

    /// <summary>Splits <c>number|text</c> (from <paramref name="start"/> of <paramref name="message"/>) at the first bar.</summary>
    public static bool TrySplitFirst(string message, int start, out long number, out string text)
    {
        var bar = message.IndexOf('|', start);
        text = bar < 0 ? message[start..] : message[(bar + 1)..];
        number = 0;
        return bar >= 0 && long.TryParse(message.AsSpan(start, bar - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out number);
    }

    /// <summary>The tag message without its version; the script appends the version it bumped to.</summary>
    public static string TagPrefix(string sender, long seq, string tag) => string.Create(CultureInfo.InvariantCulture, $"T|{sender}|{seq}|{tag}|");

    /// <summary>The clear message without its version; the script appends it.</summary>
    public static string ClearPrefix(string sender, long seq) => string.Create(CultureInfo.InvariantCulture, $"C|{sender}|{seq}|");

    public static string Heartbeat(string sender, long lastSeq, long sentAtMs, int copies, long id) =>
        string.Create(CultureInfo.InvariantCulture, $"H|{sender}|{lastSeq}|{sentAtMs}|{copies}|{id}");

    public static string Fill(string key) => "F|" + key;

    /// <summary>
    /// Splits <c>X|sender|number|rest</c>; the rest is left in place (<paramref name="restStart"/>), so an invalidation's key is
    /// cut out of the message once, not copied twice on the way to the L1 removal.
    /// </summary>
    public static bool TryParse(string message, out char kind, out string sender, out long number, out int restStart)
    {
        kind = message.Length > 1 ? message[0] : '\0';
        sender = "";
        number = 0;
        restStart = 0;
        var first = message.IndexOf('|', 2);
        if (first < 0)
        {
            return false;
        }

        var second = message.IndexOf('|', first + 1);
        if (second < 0 || !long.TryParse(message.AsSpan(first + 1, second - first - 1), NumberStyles.None, CultureInfo.InvariantCulture, out number))
        {
            return false;
        }

        sender = message[2..first];
        restStart = second + 1;
        return true;
    }

    /// <summary>Splits <c>text|number</c> (from <paramref name="start"/> of <paramref name="message"/>) at the last bar.</summary>
    public static bool TrySplitLast(string message, int start, out string text, out long number)
    {
        var bar = message.LastIndexOf('|');
        text = bar < start ? "" : message[start..bar];
        number = 0;
        return bar >= start && long.TryParse(message.AsSpan(bar + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out number);
    }
}
