namespace Coherent.SharedTier;

/// <summary>What <see cref="SharedTierJudge.Judge"/> decided about an entry read from a shared tier.</summary>
public enum SharedTierVerdict
{
    /// <summary>Fresh, and no clear or tag bump since it was stored: a hit.</summary>
    Current,

    /// <summary>Past its expiry on the engine's clock: a miss.</summary>
    Expired,

    /// <summary>Stamped with a clear or tag version older than the current one: a miss, and never a fail-safe value.</summary>
    Invalidated,

    /// <summary>It carries a tag whose current version the backend has not read yet: read it, then judge again.</summary>
    TagVersionUnknown,
}

/// <summary>The current version of a tag as the backend knows it; false when it has not read that tag's version yet.</summary>
public delegate bool SharedTierTagVersion(string tag, out long version);

/// <summary>
/// The one judgement of whether a shared-tier entry may be served, made alike by every backend: an entry is current only
/// while it is unexpired on the engine's clock (<see cref="ISharedTierHost.NowMs"/>, never the backend's own) and was
/// stamped with the current clear version and the current version of each of its tags. A backend stores the versions it
/// was given with the entry (<see cref="SharedTierEntry.Versions"/>, or those it knew at store time) and passes them back
/// here on every read; it never decides currency itself.
/// </summary>
public static class SharedTierJudge
{
    /// <summary>Judges an entry by its expiry and stamped versions against the versions current now.</summary>
    /// <param name="expiresAtMs">The entry's expiry (<see cref="SharedTierEntry.ExpiresAtMs"/>).</param>
    /// <param name="stampedClearVersion">The clear version the entry was stamped with.</param>
    /// <param name="stampedTags">The entry's tags with the versions it was stamped with (<see cref="SharedTierVersions.Stamp"/>), or null.</param>
    /// <param name="nowMs">Now, on the engine's clock.</param>
    /// <param name="clearVersion">The clear version current now.</param>
    /// <param name="tagVersion">
    /// The tag versions current now; a tag it does not know makes the verdict <see cref="SharedTierVerdict.TagVersionUnknown"/>.
    /// Null: none known yet (an entry without tags is judged without it).
    /// </param>
    public static SharedTierVerdict Judge(long expiresAtMs, long stampedClearVersion, IReadOnlyList<(string Tag, long Version)>? stampedTags,
        long nowMs, long clearVersion, SharedTierTagVersion? tagVersion)
    {
        // Invalidation first: an invalidated entry must be told apart from a merely expired one, which fail-safe may serve.
        if (stampedClearVersion < clearVersion)
        {
            return SharedTierVerdict.Invalidated;
        }

        var unknown = false;
        if (stampedTags is not null)
        {
            for (var i = 0; i < stampedTags.Count; i++)
            {
                var (tag, stamped) = stampedTags[i];
                if (tagVersion is null || !tagVersion(tag, out var current))
                {
                    unknown = true;
                }
                else if (stamped < current)
                {
                    return SharedTierVerdict.Invalidated;
                }
            }
        }

        return unknown ? SharedTierVerdict.TagVersionUnknown
            : expiresAtMs <= nowMs ? SharedTierVerdict.Expired
            : SharedTierVerdict.Current;
    }
}
