using Coherent.Local;
using Coherent.SharedTier;

namespace Coherent.Stampede;

/// <summary>Where a flight stands with the shared tier after its read and lease steps.</summary>
internal enum SharedStanding
{
    /// <summary>The flight does not use the shared tier (none configured, or LocalOnly): compute and store locally.</summary>
    NotUsed,

    /// <summary>The tier could not be asked: compute, and keep the value locally only (a lease already taken is handed back).</summary>
    Down,

    /// <summary>A miss with the key's epoch: compute, and store under that epoch.</summary>
    Miss,

    /// <summary>
    /// A miss read before the lease, whose epoch comes with it: take the lease (then store under its epoch); without one,
    /// nothing can be stored.
    /// </summary>
    MissBeforeLease,

    /// <summary>This node holds the fleet's lease: compute, and store under the lease's epoch (which releases it).</summary>
    Leased,

    /// <summary>A value read from the shared tier (<see cref="SharedOutcome.Entry"/>).</summary>
    Hit,

    /// <summary>A local value to serve while another node computes (<see cref="SharedOutcome.Entry"/>; maybe stale).</summary>
    Local,

    /// <summary>Another node held the lease and its fill was announced (or the wait timed out): read again.</summary>
    Filled,
}

/// <summary>
/// A flight's outcome with the shared tier: what it may serve, or the epoch (and lease) under which what it computes may be
/// stored. One type for the read, the lease step and the store, in place of an epoch of −1 meaning "the tier is down".
/// </summary>
internal readonly record struct SharedOutcome(SharedStanding Standing, CacheEntry? Entry = null, long Epoch = 0, SharedTierLease? Lease = null)
{
    public static SharedOutcome NotUsed => new(SharedStanding.NotUsed);

    public static SharedOutcome Down => new(SharedStanding.Down);

    public static SharedOutcome Miss(long epoch) => new(SharedStanding.Miss, Epoch: epoch);

    /// <summary>A read's miss: with its epoch, or (read before a lease that carries it) without.</summary>
    public static SharedOutcome Miss(in SharedTierRead read) => read.HasEpoch ? Miss(read.Epoch) : new(SharedStanding.MissBeforeLease);

    public static SharedOutcome Leased(SharedTierLease lease) => new(SharedStanding.Leased, Epoch: lease.Epoch, Lease: lease);

    public static SharedOutcome Filled => new(SharedStanding.Filled);

    public static SharedOutcome Hit(CacheEntry entry, long epoch) => new(SharedStanding.Hit, entry, epoch);

    /// <summary>Another node computes: a local value is served meanwhile, stale (within fail-safe) or current (an early refresh's).</summary>
    public static SharedOutcome ServeLocal(CacheEntry entry, bool stale) => new(SharedStanding.Local, entry) { Stale = stale };

    /// <summary>For <see cref="SharedStanding.Local"/>: whether the served value is stale.</summary>
    public bool Stale { get; init; }

    /// <summary>The flight went through the shared tier (even if it was down): its store step is fenced against it.</summary>
    public bool UsedTier => Standing != SharedStanding.NotUsed;

    /// <summary>What the flight computes may be stored in the shared tier, under <see cref="Epoch"/>.</summary>
    public bool CanStore => Standing is SharedStanding.Miss or SharedStanding.Leased;

    /// <summary>The flight's result when this outcome serves its callers (a hit, or a local value); null when it must compute.</summary>
    public FlightResult? Served => Standing switch
    {
        SharedStanding.Hit => new FlightResult(Entry!.Value, Entry, Stale: false, FromShared: true),
        SharedStanding.Local => new FlightResult(Entry!.Value, Entry, Stale),
        _ => null,
    };
}
