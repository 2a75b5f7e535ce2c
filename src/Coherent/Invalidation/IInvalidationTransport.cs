namespace Coherent.SharedTier;

/// <summary>
/// The wire under the invalidation bus: publishes and receives small text frames, and keeps each sender's last sequence
/// number where a node that subscribes later can read it. The protocol on top (sequence numbers, heartbeats, gap detection,
/// suspicion and recovery, frame signing and replay refusal) is the core's <see cref="InvalidationBus"/>; a transport knows
/// nothing of what the frames say.
/// </summary>
/// <remarks>
/// <para>What the protocol needs from a transport: frames one node publishes reach every subscriber in the order they
/// were published (or, when <see cref="MayReorder"/> is true, possibly out of order but within a few heartbeat
/// intervals); a frame lost while the subscription is down may be lost for good, and the transport says so
/// (<see cref="SubscriptionLost"/>). Everything else — a frame dropped, delayed, forged or replayed — the protocol
/// detects itself.</para>
/// <para>Frames that announce a write are not published through this interface: a tier publishes them in the same
/// atomic step as the write (<see cref="InvalidationBus.SendInvalidation{T}"/>), so a write that lands is always
/// announced. Only heartbeats go through <see cref="PublishOrdered"/>. A storage-only backend that borrows another's
/// transport cannot do that: it publishes its write frames with <see cref="Publish"/>, after the write landed (not atomic;
/// see <c>docs/shared-tier.md</c>, "A backend without a bus").</para>
/// </remarks>
public interface IInvalidationTransport
{
    /// <summary>
    /// Whether one sender's frames may arrive out of order (Redis Cluster: they travel through different masters). The
    /// protocol then waits a grace period before declaring a missing number lost, instead of at once.
    /// </summary>
    bool MayReorder { get; }

    /// <summary>
    /// Subscribes. Once the returned task completes, every frame published afterwards reaches this node; frames that arrive
    /// before <paramref name="subscribed"/> has completed are held, then passed to <paramref name="receive"/> one at a time
    /// (never concurrently), in arrival order. Throws when the subscription cannot be made (the protocol retries on its next
    /// heartbeat). Called once; after a <see cref="SubscriptionLost"/> the transport resubscribes by itself.
    /// </summary>
    /// <param name="receive">Handles one frame.</param>
    /// <param name="subscribed">Runs once the subscription is in place, before the first frame is handed over.</param>
    /// <param name="cancellationToken">Stops waiting for the subscription.</param>
    Task SubscribeAsync(Action<string> receive, Func<Task> subscribed, CancellationToken cancellationToken);

    /// <summary>Ends the subscription (the bus is stopping).</summary>
    Task UnsubscribeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Issues a heartbeat (does not wait for it: returns the publication's task, bounded by the transport's own timeout). The
    /// bus calls it under its send lock, so the heartbeat leaves after every frame this node published before it. When a
    /// frame must take several routes to follow all of them (one per Redis Cluster master), the transport publishes one copy
    /// per route; <paramref name="frame"/> builds the frame for the number of copies, which the receiver counts.
    /// </summary>
    Task PublishOrdered(Func<int, string> frame);

    /// <summary>
    /// Publishes one frame announcing a write, on one route (does not wait for it: returns the publication's task, bounded by
    /// the transport's own timeout). For a tier whose store cannot publish in the same step as its write; the bus calls it
    /// under its send lock, so one sender's write frames leave in the order they were numbered. The default publishes through
    /// <see cref="PublishOrdered"/>: on a transport with several routes, receivers then refuse the extra copies as replays
    /// (harmless, but counted), so such a transport should override it.
    /// </summary>
    Task Publish(string frame) => PublishOrdered(_ => frame);

    /// <summary>
    /// Stores <paramref name="sender"/>'s last issued sequence number (fire and forget; called under the send lock after the
    /// frames it counts), so that a node subscribing later starts from it and detects the loss of even the next frame.
    /// </summary>
    void RecordSequence(string sender, long sequence);

    /// <summary>Every sender's last recorded sequence number. May answer empty on failure (senders are then tracked from their first frame).</summary>
    Task<IReadOnlyList<KeyValuePair<string, long>>> ReadSequencesAsync(CancellationToken cancellationToken);

    /// <summary>The subscription (or the connection under it) was lost: frames published meanwhile may be lost for good. The argument says why.</summary>
    event Action<string>? SubscriptionLost;
}
