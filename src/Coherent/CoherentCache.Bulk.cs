using Coherent.Bulk;
using Coherent.Local;
using Coherent.Policies;
using Coherent.Stampede;

namespace Coherent;

/// <summary>
/// Bulk operations. Each key keeps its own path — L1, its own flight (so a key another caller computes is joined, not
/// computed twice), the shared read, the fleet lease, a fenced store — and the calls for all keys start together, so their
/// shared-tier commands leave in one pipeline (StackExchange.Redis sends what is issued before the first reply comes back
/// as one batch per connection; a cluster, one per slot's server). Only the factory is shared: <see cref="BatchFill{T}"/>
/// runs it once for the keys whose flights need a value.
/// </summary>
public sealed partial class CoherentCache
{
    /// <inheritdoc />
    public async ValueTask<IReadOnlyDictionary<string, T>> GetOrSetManyAsync<T>(IEnumerable<string> keys,
        Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        CacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var unique = ValidateBatch(keys);
        KeyRules.ValidateTags(options?.Tags);
        cancellationToken.ThrowIfCancellationRequested();
        return await GetOrSetManyAsync(unique, factory, options, judgeAgain: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The bulk call on validated keys. <paramref name="judgeAgain"/>: values served at the start of the call (L1 hits, the
    /// batch read's hits) are judged again when it returns, and read again (once, without this) if they are past their
    /// bound by then — a call that waits long for the factory of other keys must not hand them out older than the
    /// staleness contract allows.
    /// </summary>
    private async ValueTask<IReadOnlyDictionary<string, T>> GetOrSetManyAsync<T>(List<string> unique,
        Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        CacheEntryOptions? options, bool judgeAgain, CancellationToken cancellationToken)
    {
        var shared = options?.LocalOnly == true ? null : _shared;
        var batch = new BatchFill<T>(factory, _clock.TimeProvider, _logger, shared);
        var found = new Dictionary<string, T>(unique.Count, StringComparer.Ordinal);

        // 1. L1, key by key; then a flight for each key it did not serve: joined if one runs (the round does not wait for it:
        // a batch that waited for a flight another batch owns, which waits for one of this batch's keys, would wait forever),
        // new otherwise. New flights read the shared tier together (step 2). A family's soft timeout does not apply here: its
        // stale answer would be served early and handed out with the rest of the batch, possibly past its bound.
        var waits = new List<(KeyCall<T> Call, Flight Flight, FamilyState Family)>();
        var served = new List<(string Key, CacheEntry Entry)>();
        var toRead = new List<Flight<KeyCall<T>, T>>();
        var single = new List<KeyCall<T>>();
        foreach (var key in unique)
        {
            var family = _families.Resolve(key);
            var call = new KeyCall<T>(batch, key);
            if (TryServeLocal(key, family, call, KeyCall<T>.SlotFactory, options, out var local, out var entry))
            {
                found[key] = local;
                served.Add((key, entry!));
            }
            else if (shared is null)
            {
                call.Expected = !Flights.TryGet(key, out _);
                single.Add(call);
            }
            else
            {
                var (flight, owner) = _gate.JoinOrStart(key, Flight<KeyCall<T>, T>.ForCaller, new Flight<KeyCall<T>, T>.Args(this, family, call, KeyCall<T>.SlotFactory, options), asWaiter: true);
                if (owner)
                {
                    toRead.Add((Flight<KeyCall<T>, T>)flight);
                }
                else
                {
                    _events.Joined(family);
                }

                waits.Add((call, flight, family));
            }
        }

        // Every key the batch factory may wait for is expected before any starts (a flight may reach its slot at once, and
        // the round must not run before the others had their turn); the shared read holds one place until its misses are known.
        foreach (var call in single.Where(c => c.Expected))
        {
            batch.Expect();
        }

        var reading = Task.CompletedTask;
        if (toRead.Count > 0)
        {
            batch.Expect();
            reading = Flight<KeyCall<T>, T>.ReadAllThenRunAsync(this, shared!, toRead, missed =>
            {
                foreach (var flight in missed)
                {
                    flight.State.Expected = true;
                    batch.Expect();
                }

                batch.Finished();
            });
        }

        var pending = new List<(string Key, Task<T> Task)>(waits.Count + single.Count);
        foreach (var call in single)
        {
            pending.Add((call.Key, WhenSettled(GetOrSetAsync(call.Key, call, KeyCall<T>.SlotFactory, options, cancellationToken), call)));
        }

        // The flights are waited on once the shared read is back (it never throws): those it completed (the hits) are read
        // here without suspending, and only the rest wait, each in a frame of its own.
        await reading.ConfigureAwait(false);
        foreach (var (call, flight, family) in waits)
        {
            var waiting = AwaitFlightAsync<T>(flight, family, softDeadline: null, cancellationToken);
            if (waiting.IsCompletedSuccessfully && !call.Expected)
            {
                found[call.Key] = waiting.Result;
                if (flight.Task.Result is { Stale: false, Entry: { } entry })
                {
                    served.Add((call.Key, entry));
                }
            }
            else
            {
                pending.Add((call.Key, WhenSettled(waiting, call)));
            }
        }

        Exception? failure = null;
        foreach (var (key, task) in pending)
        {
            try
            {
                found[key] = await task.ConfigureAwait(false);
            }
            catch (KeyNotReturnedException)
            {
                // Absent: reported by leaving it out.
            }
            catch (Exception ex) when (!batch.IsAbsent(key))
            {
                failure ??= ex;
            }
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        // A key the factory left out may still have been served its last value by fail-safe; it is reported absent.
        foreach (var key in unique)
        {
            if (batch.IsAbsent(key))
            {
                found.Remove(key);
            }
        }

        if (judgeAgain)
        {
            await JudgeAgainAsync(found, served, factory, options, cancellationToken).ConfigureAwait(false);
        }

        return found;
    }

    /// <summary>
    /// The values served at the start of the call, judged again now that it returns: any no longer current (past its
    /// family's MaxStaleness since it was last confirmed, or invalidated) is read again, in one more bulk call.
    /// </summary>
    private async ValueTask JudgeAgainAsync<T>(Dictionary<string, T> found, List<(string Key, CacheEntry Entry)> served,
        Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        CacheEntryOptions? options, CancellationToken cancellationToken)
    {
        var now = _clock.PreciseNowMs();
        var again = served.Where(s => found.ContainsKey(s.Key) && !IsCurrent(s.Entry, now)).Select(s => s.Key).ToList();
        if (again.Count == 0)
        {
            return;
        }

        var fresh = await GetOrSetManyAsync(again, factory, options, judgeAgain: false, cancellationToken).ConfigureAwait(false);
        foreach (var key in again)
        {
            if (fresh.TryGetValue(key, out var value))
            {
                found[key] = value;
            }
            else
            {
                found.Remove(key); // absent now
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyDictionary<string, T>> TryGetManyAsync<T>(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        var unique = ValidateBatch(keys);
        var lookups = new Task<CacheLookup<T>>[unique.Count];
        for (var i = 0; i < unique.Count; i++)
        {
            lookups[i] = TryGetAsync<T>(unique[i], cancellationToken).AsTask();
        }

        var found = new Dictionary<string, T>(unique.Count, StringComparer.Ordinal);
        for (var i = 0; i < unique.Count; i++)
        {
            if (await lookups[i].ConfigureAwait(false) is { Found: true } hit)
            {
                found[unique[i]] = hit.Value!;
            }
        }

        return found;
    }

    /// <inheritdoc />
    public async ValueTask SetManyAsync<T>(IEnumerable<KeyValuePair<string, T>> items, CacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var list = items.ToList();
        ValidateBatch(list.Select(i => i.Key));
        KeyRules.ValidateTags(options?.Tags);
        var writes = list.Select(i => SetAsync(i.Key, i.Value, options, cancellationToken).AsTask()).ToArray();
        await WhenAllOrFirstFailure(writes).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask InvalidateManyAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        var unique = ValidateBatch(keys);
        var invalidations = unique.Select(k => InvalidateAsync(k, cancellationToken).AsTask()).ToArray();
        await WhenAllOrFirstFailure(invalidations).ConfigureAwait(false);
    }

    /// <summary>
    /// Every key checked before anything is read or written (a bad one fails the call naming it, and nothing happens for
    /// the others); duplicates once, in first-seen order.
    /// </summary>
    private List<string> ValidateBatch(IEnumerable<string> keys)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(keys);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unique = new List<string>();
        var index = 0;
        foreach (var key in keys)
        {
            if (key is null)
            {
                throw new ArgumentException($"The key at position {index} of the batch is null.", nameof(keys));
            }

            try
            {
                KeyRules.ValidateFull(key, _maxKeyLength);
                _families.Resolve(key);
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException($"The key at position {index} of the batch ('{Shorten(key)}') is not valid: {ex.Message}", nameof(keys), ex);
            }

            if (seen.Add(key))
            {
                unique.Add(key);
            }

            index++;
        }

        return unique;
    }

    private static string Shorten(string key) => key.Length <= 64 ? key : key[..64] + "…";

    /// <summary>Waits for every task, then throws the first failure (in key order), so no write is left unobserved.</summary>
    private static async Task WhenAllOrFirstFailure(Task[] tasks)
    {
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch
        {
            foreach (var task in tasks)
            {
                if (task.IsFaulted)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(task.Exception!.InnerException!);
                }
            }

            throw;
        }
    }

    /// <summary>
    /// A key's call that the batch expected and that finishes without its slot (an L2 hit after waiting for another node,
    /// or another node's value) tells the batch it is settled.
    /// </summary>
    private static async Task<T> WhenSettled<T>(ValueTask<T> pending, KeyCall<T> call)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        finally
        {
            if (call.Expected && !call.SlotCalled)
            {
                call.Batch.Finished();
            }
        }
    }

    /// <summary>One key of a batch, as the state of its flight's factory (and a member of its round's shared store).</summary>
    private sealed class KeyCall<T>(BatchFill<T> batch, string key) : IStoreRoundMember
    {
        /// <summary>The flight's factory: the key's slot in the batch.</summary>
        public static readonly Func<KeyCall<T>, CancellationToken, ValueTask<T>> SlotFactory = static (c, ct) => c.Slot(ct);

        private volatile bool _expected;
        private volatile bool _slotCalled;
        private StoreRoundMembership _round;

        public BatchFill<T> Batch => batch;

        public string Key => key;

        /// <summary>Whether the batch's round waits for this key (set before the key's flight can reach its slot).</summary>
        public bool Expected
        {
            get => _expected;
            set => _expected = value;
        }

        public bool SlotCalled => _slotCalled;

        public ValueTask<T> Slot(CancellationToken flightToken)
        {
            _slotCalled = true;
            return batch.ValueFor(key, _expected, this, flightToken);
        }

        public void JoinStoreRound(SharedStoreRound round) => _round.Join(round);

        public SharedStoreRound? TakeStoreRound() => _round.Take();

        public void LeaveStoreRound() => _round.Leave();
    }
}
