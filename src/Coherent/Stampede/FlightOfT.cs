using Coherent.Engine;
using Coherent.Invalidation;
using Coherent.Local;
using Coherent.Policies;
using Coherent.SharedTier;
using Coherent.Telemetry;

namespace Coherent.Stampede;

/// <summary>
/// A flight with what it runs (HybridCache's StampedeState is the model): the caller's state, factory and options are its
/// fields, and it owns the whole miss pipeline: shared read → lease → factory with timeouts → fenced store → fail-safe
/// (<see cref="RunAsync"/>; the steps read in order in <see cref="ReadThenRunAsync"/> and <see cref="RunPastReadAsync"/>).
/// Whether its value may enter a tier is asked of the <see cref="InvalidationGate"/> at each step; the flight only carries
/// the steps out.
/// </summary>
internal sealed partial class Flight<TState, T> : Flight
{
    private readonly CoherentCache _cache;
    private readonly FamilyState _family;
    private readonly TState _state;
    private readonly Func<TState, CancellationToken, ValueTask<T>> _factory;
    private readonly CacheEntryOptions? _options;

    private Flight(string key, long clearStamp, bool owned, in Args args)
        : base(key, clearStamp, owned)
    {
        (_cache, _family, _state, _factory, _options) = args;
        MayAddTags = _options?.FactoryDecides == true;
    }

    /// <summary>What a flight is built from, passed through <see cref="InvalidationGate.JoinOrStart{TArg}"/> without a closure.</summary>
    public readonly record struct Args(CoherentCache Cache, FamilyState Family, TState State, Func<TState, CancellationToken, ValueTask<T>> Factory, CacheEntryOptions? Options);

    /// <summary>A caller's flight: the caller counts as its first waiter from the start.</summary>
    public static readonly Func<string, long, Args, Flight> ForCaller = static (key, clear, args) => new Flight<TState, T>(key, clear, owned: true, args);

    /// <summary>An early refresh's flight: in the background, with no waiter of its own.</summary>
    public static readonly Func<string, long, Args, Flight> ForRefresh = static (key, clear, args) =>
    {
        var flight = new Flight<TState, T>(key, clear, owned: false, args);
        flight.MarkBackground();
        return flight;
    };

    private InvalidationGate Gate => _cache.Gate;

    private CacheEvents Events => _cache.Events;

    private CacheClock Clock => _cache.Clock;

    /// <summary>
    /// Starts the run, here or on the thread pool (where a factory doing synchronous work before its first await can hold
    /// neither the caller of a hit nor a timeout's timer). Never throws; the outcome goes to the waiters.
    /// </summary>
    public void Start(bool onPool)
    {
        if (onPool)
        {
            _ = System.Threading.Tasks.Task.Run(RunAsync, CancellationToken.None);
        }
        else
        {
            _ = RunAsync();
        }
    }

    /// <summary>
    /// The miss pipeline, in order: shared read → lease → factory with timeouts → fenced store → fail-safe. The read runs in
    /// a frame of its own (<see cref="ReadThenRunAsync"/>): a suspended async method's heap box is sized by everything it
    /// holds across its awaits, and an L2 hit, which ends after the read, must not pay for the lease, factory and store
    /// steps' (sizes: docs/benchmarks.md). The flight leaves the table only after its store, so an invalidation either
    /// finds it (and fences it) or finds the stored entry (and removes it).
    /// </summary>
    private Task RunAsync() => _cache.Shared is { } client && _options?.LocalOnly != true
        ? ReadThenRunAsync(client, afterFill: false)
        : RunPastReadAsync(SharedOutcome.NotUsed, refreshing: null, afterFill: false);

    /// <summary>
    /// Step 1, the shared read: an L2 hit ends the flight here; anything else goes on to the lease. Read again, once, after
    /// waiting for another node's fill (<paramref name="afterFill"/>): then a miss computes here without a lease.
    /// </summary>
    private async Task ReadThenRunAsync(SharedTierClient client, bool afterFill)
    {
        SharedOutcome read;
        CacheEntry? refreshing = null;
        try
        {
            // Inside the try: anything thrown here must fail the flight, or its waiters would wait forever.
            if (!afterFill)
            {
                Gate.SnapshotFor(this, _options?.Tags);

                // An early (XFetch) refresh must not be satisfied by the very value it refreshes: only a newer L2 value
                // counts, otherwise it takes the fleet lease so one node refreshes.
                refreshing = IsBackground && _cache.Local.Peek(Key, out var current) ? current : null;
            }

            var ticket = Gate.BeginSharedRead();
            var startedAtMs = Clock.PreciseNowMs();
            SharedTierRead result;
            try
            {
                // The first read goes on to the lease on a miss (which may carry the epoch); the read after a fill does not.
                result = await client.ReadAsync(Key, _family, forLease: !afterFill, FactoryToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                result = client.ReadFailed(Key, ex);
            }

            read = ToOutcome(result, ticket, startedAtMs);
            if (read.Entry is { } hit && (refreshing is null || hit.CreatedAtMs > refreshing.CreatedAtMs))
            {
                Complete(read.Served!.Value);
                Gate.Remove(this);
                return;
            }
        }
        catch (Exception ex)
        {
            FailAndLeave(ex);
            return;
        }

        // After another node's fill, a miss (it failed or timed out) computes here, still fenced by the epoch read (0 when
        // the read failed).
        await RunPastReadAsync(afterFill ? SharedOutcome.Miss(read.Epoch) : read, refreshing, afterFill).ConfigureAwait(false);
    }

    /// <summary>
    /// Steps 2 to 5: the lease (or another node's value), the factory, the fenced store, and fail-safe if the factory fails.
    /// <paramref name="batch"/>: the lease and version steps' answers when a bulk call already took them for all its keys.
    /// </summary>
    private async Task RunPastReadAsync(SharedOutcome shared, CacheEntry? refreshing, bool afterFill, BatchSteps? batch = null)
    {
        SharedTierLease? lease = null;
        try
        {
            // Inside the try: anything thrown here must fail the flight, or its waiters would wait forever.
            SharedTierVersions? versions = null;
            long? fleetTagBumps = null;
            if (!shared.UsedTier)
            {
                Gate.SnapshotFor(this, _options?.Tags);
            }
            else
            {
                // 2. The lease: the fleet's right to compute, or the value another node computes (then the read again).
                var client = _cache.Shared!;
                if (!afterFill)
                {
                    shared = await LeaseOrWaitAsync(client, shared, refreshing, batch?.Lease).ConfigureAwait(false);
                    if (shared.Standing == SharedStanding.Filled)
                    {
                        await ReadThenRunAsync(client, afterFill: true).ConfigureAwait(false);
                        return;
                    }

                    lease = shared.Lease;
                    if (shared.Served is { } served)
                    {
                        Complete(served);
                        return;
                    }
                }

                if (shared.CanStore)
                {
                    // Before the factory reads its source: the fill is stamped with these versions, never later ones.
                    // Unreadable: the fill stays local, and the store hands a lease back rather than store under it.
                    versions = batch is { Versions: var captured } ? captured : await client.CaptureVersionsAsync(Key, _options?.Tags, FactoryToken).ConfigureAwait(false);
                    shared = versions is null ? SharedOutcome.Down with { Lease = shared.Lease } : shared;

                    // A factory that may add tags: the fleet's count of tag invalidations now, before it reads its source.
                    if (versions is not null && MayAddTags)
                    {
                        fleetTagBumps = await client.ReadTagBumpSequenceAsync(Key, FactoryToken).ConfigureAwait(false);
                    }
                }
            }

            // 3. The factory, with its timeouts. Staleness counts from before it read its source, not from when it returned:
            // an invalidation this node misses while it runs must not stretch the MaxStaleness bound by the factory's time.
            var fetchedAtMs = Clock.PreciseNowMs();
            T value;
            double deltaMs;
            try
            {
                (value, deltaMs) = await RunFactoryAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && FactoryToken.IsCancellationRequested && !IsBackground && ex is not FactoryTimeoutException))
            {
                if (ex is KeyNotReturnedException)
                {
                    // A batch factory left the key out: the source answered that it has none. Not a failure (nothing counted
                    // or throttled), and fail-safe must not bring back a value the source no longer has.
                    Fail(ex);
                    return;
                }

                // 5. Fail-safe. A background refresh nobody waits on serves no one: it still starts the throttle, but counts no activation.
                Events.FactoryFailed(Key, _family, ex, IsBackground);
                if (TryFailSafe(serving: !IsBackground || HasWaiters) is { } stale)
                {
                    Complete(new FlightResult(stale.Value, stale, Stale: true));
                    return;
                }

                Fail(ex);
                return;
            }

            // 4. The fenced store (it releases the lease).
            var entry = await StoreAsync(value, deltaMs, fetchedAtMs, shared, versions, fleetTagBumps).ConfigureAwait(false);
            lease = null;
            Complete(new FlightResult(value, entry, Stale: false));
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
        finally
        {
            if (lease is not null)
            {
                await _cache.Shared!.ReleaseLeaseQuietlyAsync(lease).ConfigureAwait(false);
            }

            RoundMember?.LeaveStoreRound(); // a bulk round still waiting for this key's store stops waiting
            Gate.Remove(this);
        }
    }

    /// <summary>A shared read's answer as an outcome; a hit becomes an entry, and fills L1 if the gate lets it.</summary>
    private SharedOutcome ToOutcome(in SharedTierRead result, in SharedReadTicket ticket, long startedAtMs)
    {
        if (result.Status == SharedTierReadStatus.Unavailable)
        {
            return SharedOutcome.Down;
        }

        if (result.Entry is not { } shared)
        {
            // An expired value the tier kept for fail-safe goes into L1 as what it is (expired, never served as fresh): the
            // fail-safe and its throttle find it there if the factory fails, on a node whose L1 never held the key.
            if (result.Stale is { } kept && _family.FailSafeAllows(kept.CreatedAtMs, Clock.PreciseNowMs()))
            {
                _ = FillFromShared(kept, ticket, startedAtMs);
            }

            return SharedOutcome.Miss(result);
        }

        return FillFromShared(shared, ticket, startedAtMs) is { } entry
            ? SharedOutcome.Hit(entry, shared.Epoch)
            : SharedOutcome.Miss(result);
    }

    /// <summary>A shared entry as an L1 entry, filled into L1 if the gate lets it; null when its bytes are unreadable.</summary>
    private CacheEntry? FillFromShared(SharedTierEntry shared, in SharedReadTicket ticket, long startedAtMs)
    {
        T value;
        try
        {
            value = _cache.Entries.Deserialize<T>(Key, shared.Payload);
        }
        catch (CacheSerializationException ex)
        {
            // Unreadable bytes are a miss, never a crash; the recompute overwrites them.
            Events.SharedReadFailed(Key, ex);
            return null;
        }

        var now = Clock.PreciseNowMs();
        var (tags, stamps) = Gate.Tags.Snapshot(shared.Tags);

        // Fetched when the read began: what the reply holds may be that old, and staleness is bounded from there.
        var (entry, _) = _cache.Entries.Create(Key, _family, value, shared.CreatedAtMs, now, shared.DeltaMs, null, tags, stamps, ClearStamp, shared.Epoch, shared.ExpiresAtMs, startedAtMs, shared.Metadata);
        Gate.FillFromShared(this, entry, ticket, admit: _options?.SkipLocalWrite != true);
        return entry;
    }

    /// <summary>After a read that serves nothing: the fleet lease, or the value another node computes.</summary>
    private async ValueTask<SharedOutcome> LeaseOrWaitAsync(SharedTierClient client, SharedOutcome read, CacheEntry? refreshing, (SharedTierLease? Lease, bool Failed)? taken)
    {
        if (read.Standing == SharedStanding.Down)
        {
            return read; // compute locally, do not try to store
        }

        var leaseTime = SharedTierClient.LeaseTimeFor(_family);
        var (lease, failed) = taken ?? await client.TryAcquireLeaseAsync(Key, leaseTime, FactoryToken).ConfigureAwait(false);
        if (failed)
        {
            // Computed without the fleet's lease: stored under the read's epoch, or (read without it) kept locally only.
            return read.Standing == SharedStanding.MissBeforeLease ? SharedOutcome.Down : SharedOutcome.Miss(read.Epoch);
        }

        if (lease is not null)
        {
            return SharedOutcome.Leased(lease);
        }

        if (refreshing is not null)
        {
            return SharedOutcome.ServeLocal(refreshing, stale: false); // another node refreshes
        }

        // Another node computes. A value within fail-safe policy is served at once; otherwise wait for its "filled" notice.
        if (_cache.StaleCandidate(Key, _family, confirmedOnly: true) is { } stale)
        {
            return SharedOutcome.ServeLocal(stale, stale: true);
        }

        await client.WaitForFillAsync(Key, _family, leaseTime, FactoryToken).ConfigureAwait(false);
        return SharedOutcome.Filled;
    }

    /// <summary>
    /// Stores a computed value where the gate allows: not at all if the key was invalidated, overwritten, tag-invalidated or
    /// cleared since the flight began (the value is returned to callers but not cached); in the shared tier under the epoch
    /// the flight read; then in L1. Returns the entry, stored or not.
    /// </summary>
    private async ValueTask<CacheEntry> StoreAsync(T value, double deltaMs, long fetchedAtMs, SharedOutcome shared, SharedTierVersions? versions, long? fleetTagBumps)
    {
        // Stamped with the tag versions the flight started from (its snapshot), so an invalidation during the run leaves it born invalid.
        // Tags the factory added have no such versions: the gate stamps them with today's, if no tag bump since says otherwise.
        var now = Clock.PreciseNowMs();
        var (tags, stamps) = (Tags, TagStamps);
        var added = _options?.AddedTags;
        var stampable = added is null || Gate.TryStampAddedTags(this, added, out tags, out stamps);
        var (entry, payload) = _cache.Entries.Create(Key, _family, value, now, now, deltaMs, _options, tags, stamps, ClearStamp, shared.Epoch, fetchedAtMs: fetchedAtMs);
        if (!stampable || !Gate.MayStore(this, entry))
        {
            await ReleaseLeaseAsync(shared).ConfigureAwait(false);
            return entry;
        }

        var toShared = shared.UsedTier;
        if (toShared && _options?.SkipSharedWrite == true)
        {
            // Read from the shared tier but not written to it: a lease taken for the fill is handed back to the waiters.
            await ReleaseLeaseAsync(shared).ConfigureAwait(false);
            toShared = false;
        }

        if (toShared)
        {
            var client = _cache.Shared!;
            payload ??= _cache.Entries.Serialize(Key, value);
            if (added is not null && shared.CanStore)
            {
                versions = await StampAddedSharedAsync(client, added, versions, fleetTagBumps).ConfigureAwait(false);
            }

            if (!shared.CanStore || versions is null)
            {
                await ReleaseLeaseAsync(shared).ConfigureAwait(false); // nothing is stored under it: back to the fleet's waiters
            }
            else if (!await StoreSharedAsync(client, entry, payload, shared, versions).ConfigureAwait(false))
            {
                return entry; // fenced out by the shared epoch: another node invalidated the key meanwhile
            }

            if (!Gate.StillCurrentAfterSharedStore(this, entry))
            {
                await client.VoidQuietlyAsync(Key, _family).ConfigureAwait(false); // retried by the tier if unreachable
                return entry;
            }
        }

        if (_cache.IsDisposed || _options?.SkipLocalWrite == true)
        {
            return entry; // disposed while the factory ran (keep the emptied L1 empty), or not to be cached locally
        }

        Gate.TryStoreComputed(this, entry);
        return entry;
    }

    /// <summary>Fails the flight (its waiters get the exception) and takes it out of the table, before its pipeline ran on.</summary>
    private void FailAndLeave(Exception ex)
    {
        Fail(ex);
        Gate.Remove(this);
    }

    private ValueTask ReleaseLeaseAsync(SharedOutcome shared) =>
        shared.Lease is { } lease ? _cache.Shared!.ReleaseLeaseQuietlyAsync(lease) : ValueTask.CompletedTask;
}
