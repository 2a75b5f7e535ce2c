using System.Runtime.CompilerServices;

namespace Coherent.Policies;

/// <summary>What a key may be. The hit path checks only null and length (cheap); control characters are checked wherever a key is stored.</summary>
internal static class KeyRules
{
    /// <summary>No configuration may allow keys longer than this (Redis keys stay well under its limits).</summary>
    public const int AbsoluteMaxKeyLength = 16 * 1024;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ValidateFast(string key, int maxLength)
    {
        if (key is null || key.Length == 0 || key.Length > maxLength)
        {
            Throw(key, maxLength);
        }
    }

    public static void ValidateFull(string key, int maxLength)
    {
        ValidateFast(key, maxLength);
        ValidateText(key, "Cache key", nameof(key));
    }

    /// <summary>Printable, valid UTF-16 text: what can be a Redis key and a bus message field without aliasing.</summary>
    private static void ValidateText(string text, string what, string paramName)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsControl(c))
            {
                throw new ArgumentException($"{what} contains the control character U+{(int)c:X4}; it must be printable text.", paramName);
            }

            // An unpaired surrogate is not text: UTF-8 turns every one into U+FFFD, so two such keys would share one
            // Redis key (and key hash) and one could be served the other's value.
            if (char.IsSurrogate(c))
            {
                if (!char.IsHighSurrogate(c) || i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1]))
                {
                    throw new ArgumentException($"{what} contains an unpaired surrogate U+{(int)c:X4} at {i}; it must be valid UTF-16 text.", paramName);
                }

                i++;
            }
        }
    }

    /// <summary>
    /// Whether the key passes <see cref="ValidateFull"/>, without throwing: the HybridCache adapter runs the factory uncached
    /// for a key that does not, as HybridCache does for a key it cannot cache.
    /// </summary>
    public static bool IsStorable(string? key, int maxLength)
    {
        if (key is null || key.Length == 0 || key.Length > maxLength)
        {
            return false;
        }

        // Printable ASCII throughout (nearly every key) has no control character or surrogate: one vectorized scan.
        // The HybridCache adapter asks this on every call, L1 hits included.
        if (key.AsSpan().IndexOfAnyExceptInRange(' ', '~') < 0)
        {
            return true;
        }

        for (var i = 0; i < key.Length; i++)
        {
            var c = key[i];
            if (char.IsControl(c))
            {
                return false;
            }

            if (char.IsSurrogate(c))
            {
                if (!char.IsHighSurrogate(c) || i + 1 >= key.Length || !char.IsLowSurrogate(key[i + 1]))
                {
                    return false;
                }

                i++;
            }
        }

        return true;
    }

    public static void ValidateTag(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (tag.Length is 0 or > 256)
        {
            throw new ArgumentException($"Tag must be 1 to 256 characters; got {tag.Length}.", nameof(tag));
        }

        ValidateText(tag, "Tag", nameof(tag));
    }

    /// <summary>Validates the tags given with an entry, so an entry is never stored with a tag no invalidation could name.</summary>
    public static void ValidateTags(IReadOnlyList<string>? tags)
    {
        if (tags is null)
        {
            return;
        }

        for (var i = 0; i < tags.Count; i++)
        {
            if (tags[i] is null)
            {
                throw new ArgumentException($"Tag {i} of the entry's tags is null.", nameof(tags));
            }

            ValidateTag(tags[i]);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(string? key, int maxLength)
    {
        if (key is null)
        {
            throw new ArgumentNullException(nameof(key), "Cache key must not be null.");
        }

        throw key.Length == 0
            ? new ArgumentException("Cache key must not be empty.", nameof(key))
            : new ArgumentException($"Cache key is {key.Length} characters, over the limit of {maxLength} (set with WithMaxKeyLength).", nameof(key));
    }
}
