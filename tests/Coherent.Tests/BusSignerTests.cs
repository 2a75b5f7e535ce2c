using Coherent.Invalidation;

namespace Coherent.Tests;

/// <summary>Bus frame signing (the core's protocol; end to end over Redis in Proof/BusAuthenticationTests).</summary>
public sealed class BusSignerTests
{
    private static readonly BusSigner Signer = new("0123456789abcdef0123456789abcdef"u8.ToArray());

    [Fact]
    public void A_signed_frame_opens_to_itself_and_one_changed_anywhere_under_its_mac_is_refused()
    {
        var frame = BusMessage.Invalidate("node1", 7, 1_700_000_000_000, "item:1");
        var signed = Signer.Sign(frame);

        Assert.True(Signer.TryOpen(signed, out var opened));
        Assert.Equal(frame, opened);
        Assert.False(Signer.TryOpen(signed.Replace("item:1", "item:2", StringComparison.Ordinal), out _));
        Assert.False(Signer.TryOpen(signed.Replace("|7|", "|8|", StringComparison.Ordinal), out _)); // a replay renumbered
        Assert.False(Signer.TryOpen(frame, out _)); // unsigned
        Assert.False(new BusSigner("another key, another application"u8.ToArray()).TryOpen(signed, out _));
    }

    [Fact]
    public void A_tag_frames_mac_covers_sender_number_and_tag_and_the_version_appended_after_signing_is_left_to_the_receiver()
    {
        var signed = Signer.Sign(BusMessage.TagPrefix("node1", 3, "catalog"));

        Assert.True(Signer.TryOpen(signed + "42", out var opened)); // the bump script appends the version it produced
        Assert.True(BusMessage.TryParse(opened, out var kind, out var sender, out var seq, out var rest));
        Assert.True(BusMessage.TrySplitLast(opened, rest, out var tag, out var version));
        Assert.Equal(('T', "node1", 3L, "catalog", 42L), (kind, sender, seq, tag, version));
        Assert.False(Signer.TryOpen(signed.Replace("catalog", "other", StringComparison.Ordinal) + "42", out _));
    }

    [Fact]
    public void A_node_without_a_key_understands_a_signed_nodes_frames()
    {
        var frame = BusMessage.ClearPrefix("node1", 5) + "9";

        Assert.Equal(frame, BusSigner.Strip(Signer.Sign(BusMessage.ClearPrefix("node1", 5)) + "9"));
        Assert.Equal(frame, BusSigner.Strip(frame));
    }
}
