namespace Coherent.SharedTier;

/// <summary>
/// What the tier that started an <see cref="InvalidationBus"/> learns from it besides what the engine learns (the engine is
/// told through <see cref="ISharedTierHost"/>). A tier that caches tag and clear versions keeps them current from here.
/// </summary>
public interface IInvalidationBusListener
{
    /// <summary>
    /// A fill or a lease release of <paramref name="key"/> was announced, or the key was invalidated (which voids its lease):
    /// wake this node's waiters for it.
    /// </summary>
    void OnFilled(string key);

    /// <summary>
    /// A tag was bumped to <paramref name="version"/> (by any node, this one included). Called before the engine drops the
    /// tag's entries, so an L2 read judged with the old version sees the local bump land after it started. The version is
    /// appended outside the frame's MAC by whoever bumped it: bound it before trusting it (<paramref name="frame"/> is for the log).
    /// </summary>
    void OnTagVersion(string tag, long version, string frame);

    /// <summary>The clear version moved to <paramref name="version"/> (see <see cref="OnTagVersion"/>).</summary>
    void OnClearVersion(long version, string frame);

    /// <summary>
    /// Frames may have been lost (a gap, an outage, a new subscription): versions known from the bus may be behind the
    /// store and must be reloaded before anything is judged with them. Called before the engine drops its L1 entries.
    /// </summary>
    void OnPossibleLoss();

    /// <summary>A frame was refused (<paramref name="reason"/>: unsigned, replayed, future_heartbeat) and ignored: count and log it.</summary>
    void OnFrameRejected(string reason, string frame);
}
