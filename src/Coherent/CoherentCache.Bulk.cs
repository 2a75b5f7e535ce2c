using Coherent.Bulk;
using Coherent.Policies;

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
        var batch = new BatchFill<T>(factory, _clock.TimeProvider, _logger);
        // Every key the call will start is expected before any starts: a flight may reach its slot at once (a synchronous
        // tier), and the round must not run before the other keys had their turn.
        var keyCalls = new KeyCall<T>[unique.Count];
        for (var i = 0; i < unique.Count; i++)
        {
            // A key with a flight now joins it: the round does not wait for it (a batch that waited for a flight another
            // batch owns, which waits for one of this batch's keys, would wait forever).
            keyCalls[i] = new KeyCall<T>(batch, unique[i], Expected: !Flights.TryGet(unique[i], out _));
            if (keyCalls[i].Expected)
            {
                batch.Expect();
            }
        }

        var calls = new (KeyCall<T> Call, Task<T> Task)[unique.Count];
        for (var i = 0; i < unique.Count; i++)
        {
            var call = keyCalls[i];
            var pending = GetOrSetAsync(call.Key, call, static (c, ct) => c.Slot(ct), options, cancellationToken);
            calls[i] = (call, call.Expected ? WhenSettled(pending, call) : pending.AsTask());
        }

        var found = new Dictionary<string, T>(unique.Count, StringComparer.Ordinal);
        Exception? failure = null;
        foreach (var (call, task) in calls)
        {
            try
            {
                found[call.Key] = await task.ConfigureAwait(false);
            }
            catch (KeyNotReturnedException)
            {
                // Absent: reported by leaving it out.
            }
            catch (Exception ex) when (!batch.IsAbsent(call.Key))
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

        return found;
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

    /// <summary>A key's call that finishes without its slot (a hit, or another node's value) tells the batch it is settled.</summary>
    private static async Task<T> WhenSettled<T>(ValueTask<T> pending, KeyCall<T> call)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        finally
        {
            if (!call.SlotCalled)
            {
                call.Batch.Finished();
            }
        }
    }

    /// <summary>One key of a batch, as the state of its flight's factory.</summary>
    private sealed record KeyCall<T>(BatchFill<T> Batch, string Key, bool Expected)
    {
        public volatile bool SlotCalled;

        public ValueTask<T> Slot(CancellationToken flightToken)
        {
            SlotCalled = true;
            return Batch.ValueFor(Key, Expected, flightToken);
        }
    }
}
