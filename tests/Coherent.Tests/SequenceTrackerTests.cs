using Coherent.Invalidation;

namespace Coherent.Tests;

/// <summary>Per-sender sequence numbers (no server needed).</summary>
public sealed class SequenceTrackerTests
{
    /// <summary>Issue 11, hole 11: every sender ever heard was kept for the life of the process (one per node restart).</summary>
    [Fact]
    public void A_sender_silent_past_the_horizon_is_forgotten_and_one_still_heard_is_kept()
    {
        var tracker = new SequenceTracker(graceMs: 0, forgetAfterMs: 60_000);
        tracker.OnHeartbeat("departed", 10, now: 0);
        tracker.OnHeartbeat("alive", 5, now: 0);
        tracker.OnHeartbeat("alive", 6, now: 59_000);
        Assert.Null(tracker.Expire(now: 59_500));
        Assert.Equal(2, tracker.SenderCount); // 59.5 s silent: not yet

        Assert.Null(tracker.Expire(now: 61_000));
        Assert.Equal(1, tracker.SenderCount);

        // Heard again, the departed sender starts afresh; the living one still shows a gap.
        Assert.Equal(0, tracker.OnMessage("departed", 40, now: 62_000));
        Assert.Equal(2, tracker.OnMessage("alive", 9, now: 62_000));
    }

    [Fact]
    public void A_sender_seeded_from_the_server_counts_as_heard_when_seeded()
    {
        var tracker = new SequenceTracker(graceMs: 0, forgetAfterMs: 60_000);
        tracker.Seed("other", 7, now: 1_000_000);
        Assert.Null(tracker.Expire(now: 1_000_050));
        Assert.Equal(1, tracker.OnHeartbeat("other", 8, now: 1_000_100)); // its first message after the seed was lost
    }
}
