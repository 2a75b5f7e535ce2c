using Coherent.SharedTier;

namespace Coherent.Tests;

/// <summary>The one judgement every shared tier makes of an entry it read (<see cref="SharedTierJudge"/>).</summary>
public sealed class SharedTierJudgeTests
{
    private static readonly Dictionary<string, long> Tags = new(StringComparer.Ordinal) { ["a"] = 3, ["b"] = 5 };

    private static SharedTierVerdict Judge(long expiresAtMs, long clear, (string, long)[]? stamped, long nowMs = 100, long currentClear = 2) =>
        SharedTierJudge.Judge(expiresAtMs, clear, stamped, nowMs, currentClear, Tags.TryGetValue);

    [Fact]
    public void An_unexpired_entry_stamped_with_the_current_versions_is_current() =>
        Assert.Equal(SharedTierVerdict.Current, Judge(101, 2, [("a", 3), ("b", 5)]));

    [Fact]
    public void An_entry_at_its_expiry_instant_is_expired() =>
        Assert.Equal(SharedTierVerdict.Expired, Judge(100, 2, [("a", 3)]));

    [Fact]
    public void An_entry_stamped_before_the_clear_is_invalidated_even_when_also_expired()
    {
        // Fail-safe may serve an expired value, never an invalidated one: the verdict must say which.
        Assert.Equal(SharedTierVerdict.Invalidated, Judge(101, 1, null));
        Assert.Equal(SharedTierVerdict.Invalidated, Judge(50, 1, null));
    }

    [Fact]
    public void An_entry_stamped_before_a_tags_bump_is_invalidated_even_with_another_tag_unknown() =>
        Assert.Equal(SharedTierVerdict.Invalidated, Judge(50, 2, [("unseen", 1), ("b", 4)]));

    [Fact]
    public void An_entry_with_a_tag_the_backend_has_not_read_asks_for_its_version()
    {
        Assert.Equal(SharedTierVerdict.TagVersionUnknown, Judge(101, 2, [("a", 3), ("unseen", 1)]));
        Assert.Equal(SharedTierVerdict.TagVersionUnknown, Judge(50, 2, [("unseen", 1)]));
    }

    [Fact]
    public void A_stamp_newer_than_the_version_known_is_current() =>
        Assert.Equal(SharedTierVerdict.Current, Judge(101, 3, [("a", 4)]));

    [Fact]
    public void Without_a_tag_lookup_an_untagged_entry_is_judged_and_a_tagged_one_asks_for_its_versions()
    {
        Assert.Equal(SharedTierVerdict.Current, SharedTierJudge.Judge(101, 2, null, 100, 2, tagVersion: null));
        Assert.Equal(SharedTierVerdict.Invalidated, SharedTierJudge.Judge(101, 1, [("a", 3)], 100, 2, tagVersion: null));
        Assert.Equal(SharedTierVerdict.TagVersionUnknown, SharedTierJudge.Judge(101, 2, [("a", 3)], 100, 2, tagVersion: null));
    }
}
