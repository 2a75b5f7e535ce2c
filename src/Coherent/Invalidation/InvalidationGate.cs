using Coherent.Engine;
using Coherent.Local;
using Coherent.Policies;
using Coherent.Stampede;
using Coherent.Telemetry;

namespace Coherent.Invalidation;

/// <summary>
/// The invalidation coordinator, and the only place that decides whether a value may enter L1 or L2. Its invariant:
/// <b>a value computed (or read) before an invalidation never enters a tier after it</b>. It owns what that takes: the
/// flights in progress and their fences, tag and clear versions, this node's version writes in flight, invalidations from
/// other nodes, and recovery (reconciliations after a bus gap). See docs/concurrency.md, "Fencing".
/// </summary>
/// <remarks>
/// The mechanisms, each closing one race:
/// <list type="bullet">
/// <item>A per-key fence: an invalidation or write fences the key's flight, then drops the L1 entry. Fencing and a flight's
/// local store take the flight's store lock, so once the fence is up the flight's entry is in L1 (and dropped) or never will be.</item>
/// <item>A new caller never joins a run it may not see (fenced, cleared, tag-invalidated or abandoned since it began).</item>
/// <item>Entries carry the tag and clear versions their flight started from: an invalidation during the run leaves the
/// value born invalid, returned to its callers but stored in neither tier.</item>
/// <item>An L2 read fills L1 only if no tag bump, version write of this node, or reconciliation overlapped it.</item>
/// </list>
/// Across nodes the shared tier's epoch fences the L2 store (<see cref="SharedTier.ISharedTier.StoreIfEpochAsync"/>).
/// </remarks>
internal sealed class InvalidationGate(L1Store l1, CacheEvents events)
{
    private readonly TagTable _tags = new();
    private readonly FlightTable _flights = new();

    /// <summary>This node's tag invalidations and clears whose shared-tier call has not returned yet.</summary>
    private int _versionWritesInFlight;

    /// <summary>
    /// Times L1 was reconciled (entries fetched before an instant dropped: a bus gap, a recovery, a new subscription). An L2
    /// read in flight across one may have read what a lost invalidation would have removed: it is served, not cached.
    /// </summary>
    private long _reconciliations;

    public TagTable Tags => _tags;

    public FlightTable Flights => _flights;

    public long ClearVersion => _tags.ClearVersion;

    // ---- Flights: who may join, and the fence ----

    /// <summary>
    /// Joins the key's flight, or registers a new one built by <paramref name="create"/> (static: no closure per miss). With
    /// <paramref name="asWaiter"/>, the caller is counted as a waiter of the flight it joins. A flight whose result a caller
    /// starting now may not see (<see cref="MayJoin"/>) is replaced, not joined; it stays fenced, finishes for its own
    /// callers and stores nothing.
    /// </summary>
    public (Flight Flight, bool Owner) JoinOrStart<TArg>(string key, Func<string, long, TArg, Flight> create, TArg arg, bool asWaiter)
    {
        while (true)
        {
            var (flight, owner) = JoinOrStartOnce(key, create, arg, ClearVersion);
            if (owner || !asWaiter || flight.TryAddWaiter())
            {
                return (flight, owner);
            }

            // Abandoned between the check and the join: start over.
        }
    }

    private (Flight Flight, bool Owner) JoinOrStartOnce<TArg>(string key, Func<string, long, TArg, Flight> create, TArg arg, long clearVersion)
    {
        while (true)
        {
            if (_flights.TryGet(key, out var existing))
            {
                if (MayJoin(existing, clearVersion, _tags.BumpCount))
                {
                    return (existing, false);
                }

                var replacement = create(key, clearVersion, arg);
                if (_flights.TryReplace(existing, replacement))
                {
                    Fence(existing); // out of the table, an invalidation can no longer find it: it must not store
                    return (replacement, true);
                }

                continue;
            }

            var created = create(key, clearVersion, arg);
            if (_flights.TryAdd(created))
            {
                return (created, true);
            }
        }
    }

    /// <summary>
    /// Whether a caller starting at <paramref name="clearVersion"/> may receive the run's result: not if the key was
    /// invalidated, overwritten, cleared or tag-invalidated since the run began (its data may predate the write), nor if the
    /// run was abandoned (a newcomer would inherit a cancellation), nor if it has finished but not yet left the table (its
    /// outcome is given out already: a failure joined here would be a cached exception). A run whose factory may add tags
    /// is joined only while no tag at all was bumped since its snapshot: the tags it will carry are not known yet.
    /// </summary>
    private static bool MayJoin(Flight flight, long clearVersion, long tagBumps)
    {
        if (flight.Task.IsCompleted || flight.Fenced || flight.Abandoned || flight.ClearStamp != clearVersion)
        {
            return false;
        }

        if (flight.MayAddTags && flight.TagBumpsAtStart is var atStart && atStart >= 0 && atStart != tagBumps)
        {
            return false;
        }

        var tags = flight.Tags;
        if (tags is null)
        {
            return true;
        }

        var stamps = flight.TagStamps!;
        for (var i = 0; i < tags.Length; i++)
        {
            if (Volatile.Read(ref tags[i].Version) != stamps[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Snapshots the tag versions a run starts from (on the flight, so a tag invalidation during it stops new joiners).</summary>
    public (TagState[]? Tags, long[]? Stamps) SnapshotFor(Flight flight, IReadOnlyList<string>? tags)
    {
        var bumps = _tags.BumpCount; // before the versions: never later than what they show
        var (states, stamps) = _tags.Snapshot(tags);
        flight.SetTagSnapshot(states, stamps, bumps);
        return (states, stamps);
    }

    /// <summary>
    /// The tags a run's factory added, stamped with their versions now — which may be trusted only if no tag at all was
    /// bumped on this node (locally or from the bus) since the run's snapshot, before its factory: their versions then were
    /// never read, so any bump since may have been one of theirs. The versions are read before the count (a bump counts
    /// before its version moves): a bump they show is a bump the count shows. On success, the run's snapshot with the added
    /// tags appended; false (logged as a dropped result) when the value may be stored in neither tier.
    /// </summary>
    public bool TryStampAddedTags(Flight flight, IReadOnlyList<string> added, out TagState[]? tags, out long[]? stamps)
    {
        var (addedStates, addedStamps) = _tags.Snapshot(added);
        if (flight.TagBumpsAtStart is var atStart && (atStart < 0 || atStart != _tags.BumpCount))
        {
            events.FencedResultDropped(flight.Key);
            (tags, stamps) = (null, null);
            return false;
        }

        (tags, stamps) = (flight.Tags, flight.TagStamps);
        if (addedStates is not null)
        {
            tags = [.. tags ?? [], .. addedStates];
            stamps = [.. stamps ?? [], .. addedStamps!];
        }

        return true;
    }

    /// <summary>Fences the run; after this returns its entry is in L1 already or never will be (<see cref="TryStoreComputed"/>).</summary>
    public static void Fence(Flight flight)
    {
        lock (flight.StoreLock)
        {
            flight.MarkFenced();
        }
    }

    public void Remove(Flight flight) => _flights.Remove(flight);

    // ---- What may enter L1 and L2 ----

    /// <summary>Taken right before a shared read; see <see cref="FillFromShared"/>.</summary>
    public SharedReadTicket BeginSharedRead() => new(_tags.BumpCount, Volatile.Read(ref _versionWritesInFlight), Volatile.Read(ref _reconciliations));

    /// <summary>
    /// Fills L1 with an L2 hit, fenced like a computed value, when nothing overlapped the read: a tag bump (local or from the
    /// bus) landing while it was out may postdate the tier's check of the entry's tag versions, and stamping the entry with
    /// today's versions would make an old value current; while one of this node's own tag invalidations or clears is out,
    /// local versions have moved but the tier learns the new one only when its call returns; a reconciliation means the read
    /// may have seen what a lost invalidation would have removed. Such a read is served, not cached.
    /// <paramref name="admit"/> false: the caller asked not to write L1.
    /// </summary>
    public void FillFromShared(Flight flight, CacheEntry entry, in SharedReadTicket ticket, bool admit)
    {
        if (!flight.Fenced && flight.ClearStamp == ClearVersion && (entry.Tags is null || _tags.BumpCount == ticket.TagBumps)
            && ticket.VersionWritesInFlight == 0 && Volatile.Read(ref _versionWritesInFlight) == 0 && ticket.Reconciliations == Volatile.Read(ref _reconciliations)
            && admit && l1.AdmitFill(flight.Key))
        {
            l1.Set(entry);
            if (flight.Fenced || ticket.Reconciliations != Volatile.Read(ref _reconciliations))
            {
                l1.Remove(entry);
            }
        }
    }

    /// <summary>
    /// Whether a computed value may be stored at all (in either tier): not if the key was invalidated, overwritten,
    /// tag-invalidated or cleared since its flight began (then it is returned to callers, not cached). Logs a drop.
    /// </summary>
    public bool MayStore(Flight flight, CacheEntry entry)
    {
        if (!flight.Fenced && IsCurrent(flight, entry))
        {
            return true;
        }

        events.FencedResultDropped(flight.Key);
        return false;
    }

    /// <summary>
    /// Asked again once the value is in the shared tier: a tag invalidation or clear that landed meanwhile may have left the
    /// shared copy carrying the new tag version with the old value (tag bumps do not move the key's epoch). False: void it.
    /// </summary>
    public bool StillCurrentAfterSharedStore(Flight flight, CacheEntry entry)
    {
        if (IsCurrent(flight, entry))
        {
            return true;
        }

        events.FencedResultDropped(flight.Key);
        return false;
    }

    private bool IsCurrent(Flight flight, CacheEntry entry) => flight.ClearStamp == ClearVersion && entry.TagsCurrent();

    /// <summary>
    /// Stores a computed value in L1 unless its flight is fenced, atomically with <see cref="Fence"/>: storing first and
    /// undoing on a late fence left a window in which a read that began after the invalidation saw the fenced value.
    /// A full L1 caches a key only on its second miss (<see cref="L1Store.AdmitFill"/>).
    /// </summary>
    public void TryStoreComputed(Flight flight, CacheEntry entry)
    {
        if (!l1.AdmitFill(flight.Key))
        {
            return;
        }

        bool stored;
        lock (flight.StoreLock)
        {
            stored = !flight.Fenced;
            if (stored)
            {
                l1.Set(entry, maintain: false);
            }
        }

        // The LFU's upkeep runs after the store lock is released: an invalidation fencing this flight waits for the lock,
        // and need not wait for the upkeep too.
        if (stored)
        {
            l1.Maintain();
        }
        else
        {
            events.FencedResultDropped(flight.Key);
        }
    }

    // ---- This node's writes ----

    /// <summary>
    /// A write (SetAsync) begins: a factory running now computed from data older than this write, so it must not overwrite it.
    /// The L1 entry stays until the shared-tier call (or the local write) replaces it.
    /// </summary>
    public void BeginWrite(string key) => FenceKey(key);

    /// <summary>A write's own value, once any shared-tier call is over: into L1, or (not to be kept locally) the older local value out.</summary>
    public void EndWrite(CacheEntry written, bool keepLocal)
    {
        if (keepLocal)
        {
            l1.Set(written);
        }
        else
        {
            l1.Remove(written.Key); // the older local value must not outlive this write
        }
    }

    /// <summary>Drops the key from L1 (before a write-through: the old value must not be served while it is out).</summary>
    public void Drop(string key) => l1.Remove(key);

    /// <summary>A tag invalidation: entries and running flights hold the tag's version from when they started; bumping it voids both.</summary>
    public async ValueTask InvalidateTagAsync(string tag, SharedTierClient? shared, CancellationToken token)
    {
        Interlocked.Increment(ref _versionWritesInFlight);
        try
        {
            _tags.Bump(tag);
            if (shared is not null)
            {
                await shared.InvalidateTagAsync(tag, token).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _versionWritesInFlight);
        }
    }

    public async ValueTask ClearAsync(SharedTierClient? shared, CancellationToken token)
    {
        Interlocked.Increment(ref _versionWritesInFlight);
        try
        {
            ClearLocally();
            if (shared is not null)
            {
                await shared.ClearAsync(token).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _versionWritesInFlight);
        }
    }

    // ---- Other nodes, and recovery ----

    /// <summary>Another node invalidated or overwrote the key.</summary>
    public void OnRemoteInvalidated(string key) => FenceAndDrop(key);

    public void OnRemoteTagInvalidated(string tag) => _tags.Bump(tag);

    public void OnRemoteCleared() => ClearLocally();

    /// <summary>Recovery after a bus gap or outage: drops L1 entries fetched before <paramref name="ms"/>.</summary>
    public int DropFetchedBefore(long ms)
    {
        Interlocked.Increment(ref _reconciliations); // before the removal: a read filling after it must see the change
        var dropped = l1.RemoveWhere(static (e, before) => e.FetchedAtMs < before, ms);
        events.LocalEntriesDropped(dropped, ms);
        return dropped;
    }

    /// <summary>
    /// Fences the key's running flight, then drops the key from L1: a flight storing concurrently either sees the fence or has
    /// stored already (and is removed here). For an invalidation from the bus, and for this node's own writes twice — before
    /// the shared-tier call, and again once it is over: this node ignores its own bus message, and a flight that began after
    /// the first fence may have read the shared tier before the write landed; without the second, it would put the old value
    /// into this node's L1 after the write returned, where heartbeats keep confirming it until the key's next invalidation.
    /// </summary>
    public void FenceAndDrop(string key)
    {
        FenceKey(key);
        l1.Remove(key);
    }

    private void FenceKey(string key)
    {
        if (_flights.TryGet(key, out var flight))
        {
            Fence(flight);
        }
    }

    private void ClearLocally()
    {
        _tags.BumpClear();
        foreach (var flight in _flights.All)
        {
            Fence(flight);
        }

        l1.Clear();
    }
}

/// <summary>What was known before a shared read went out: compared afterwards to decide whether its hit may fill L1.</summary>
internal readonly record struct SharedReadTicket(long TagBumps, int VersionWritesInFlight, long Reconciliations);
