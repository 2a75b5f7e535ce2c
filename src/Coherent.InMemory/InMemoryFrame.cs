namespace Coherent.InMemory;

/// <summary>What a bus frame announces.</summary>
public enum InMemoryFrameKind
{
    /// <summary>A key was invalidated or overwritten.</summary>
    Key,

    /// <summary>A tag was invalidated.</summary>
    Tag,

    /// <summary>The whole cache was cleared.</summary>
    Clear,
}

/// <summary>A bus frame on its way to one node.</summary>
/// <param name="Kind">What it announces.</param>
/// <param name="Name">The key or tag ("" for a clear).</param>
/// <param name="SentAtMs">When it was published (the writer's engine clock).</param>
/// <param name="Receiver">The receiving node's cache name (set when the fate is decided).</param>
public sealed record InMemoryFrame(InMemoryFrameKind Kind, string Name, long SentAtMs, string Receiver = "");

/// <summary>
/// A frame's fate: delivered now, dropped, delivered after a delay (holding back later frames to that node), or reordered
/// (delivered after a delay, overtaken by later frames). Delays run on the receiver's time provider.
/// </summary>
public readonly record struct FrameFate(bool Drop, TimeSpan Delay)
{
    /// <summary>Whether frames sent during the delay overtake this one (see <see cref="Reordered"/>).</summary>
    public bool Reorder { get; init; }

    /// <summary>Delivered at once.</summary>
    public static FrameFate Deliver => default;

    /// <summary>Lost.</summary>
    public static FrameFate Lost => new(true, TimeSpan.Zero);

    /// <summary>Delivered after <paramref name="delay"/>; every later frame to the node waits behind it (a slow link keeps its order).</summary>
    public static FrameFate Delayed(TimeSpan delay) => new(false, delay);

    /// <summary>Delivered after <paramref name="delay"/>; frames sent meanwhile overtake it.</summary>
    public static FrameFate Reordered(TimeSpan delay) => new(false, delay) { Reorder = true };
}
