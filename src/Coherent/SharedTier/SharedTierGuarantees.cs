namespace Coherent.SharedTier;

/// <summary>
/// What a shared tier can enforce. The engine and the policy report go by it: the staleness bound a family really gets
/// depends on it (see <c>docs/guarantees.md</c>).
/// </summary>
[Flags]
public enum SharedTierGuarantees
{
    /// <summary>Storage only: no fencing, no bus, no fleet lease.</summary>
    None = 0,

    /// <summary>
    /// A fill computed before an invalidation of its key never enters the tier after it (<see cref="ISharedTier.StoreIfEpochAsync"/>
    /// compares atomically). Without it a stale set can stay in the tier up to the family's Ttl.
    /// </summary>
    FencedStores = 1,

    /// <summary>Invalidations reach every node's L1 (and confirm it): L1 copies may then live longer than MaxStaleness.</summary>
    InvalidationBus = 2,

    /// <summary>One node in the fleet computes a missing key while the others wait for its fill.</summary>
    FleetLeases = 4,

    /// <summary>
    /// With <see cref="InvalidationBus"/>: a write is announced on the bus after it lands, in a step of its own (not
    /// atomically with it, as Redis's scripts do). A writer that dies between the two leaves no gap for others to detect,
    /// so their L1 copies can last up to their local lifetime. The policy report lists the families this widens.
    /// </summary>
    AnnouncedAfterWrite = 8,

    /// <summary>Everything: fenced stores, an invalidation bus and fleet leases (Coherent.Redis).</summary>
    All = FencedStores | InvalidationBus | FleetLeases,
}
