using Microsoft.Extensions.Logging;

namespace Coherent.SharedTier;

/// <summary>Settings of an <see cref="InvalidationBus"/>, chosen by the tier that starts it.</summary>
public sealed class InvalidationBusOptions
{
    /// <summary>How often the node publishes its heartbeat (confirmation of its L1, and the end of a sender's gap window). Default 250 ms.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The HMAC-SHA256 key for frames, or null to send them unsigned. With a key, only frames with a valid MAC are acted on.
    /// Derive it for this purpose and this application (never the envelope's key).
    /// </summary>
    public byte[]? FrameSigningKey { get; init; }

    /// <summary>Where the bus logs suspicion, recovery and gaps (events 2003, 2004, 2005, 2009); the host's logger when null.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Told of fill notices, versions, possible losses and refused frames; null when the tier needs none of them.</summary>
    public IInvalidationBusListener? Listener { get; init; }
}
