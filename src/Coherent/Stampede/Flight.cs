using Coherent.Local;

namespace Coherent.Stampede;

/// <summary>
/// One factory run for one key, shared by every caller that arrives while it runs. Each caller waits with its own
/// token; the factory's token is cancelled only when every waiting caller has given up (and never for a background run).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The CTS has no timer; nothing to release.")]
internal class Flight
{
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<FlightResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiters;
    private int _fenced;
    private readonly Lock _storeLock = new();
    private int _background;
    private Invalidation.TagState[]? _tags;
    private long[]? _tagStamps;
    private long _tagBumpsAtStart = -1;

    /// <param name="key">The key.</param>
    /// <param name="clearStamp">The global clear version when the flight was created.</param>
    /// <param name="owned">True when the creating caller waits on it: it counts as the first waiter from the start, so no
    /// joiner can abandon the flight before its owner is registered. False for background runs (early refresh).</param>
    public Flight(string key, long clearStamp, bool owned = false)
    {
        Key = key;
        ClearStamp = clearStamp;
        _waiters = owned ? 1 : 0;
    }

    public string Key { get; }

    /// <summary>The global clear version when the run started; a clear during the run makes the result uncacheable.</summary>
    public long ClearStamp { get; }

    public Task<FlightResult> Task => _completion.Task;

    public CancellationToken FactoryToken => _cts.Token;

    /// <summary>Set when the key was invalidated or overwritten during the run: the result is returned, not stored.</summary>
    public bool Fenced => Volatile.Read(ref _fenced) == 1;

    /// <summary>A background run (early refresh, or abandoned by a soft timeout) finishes even with no one waiting.</summary>
    public bool IsBackground => Volatile.Read(ref _background) == 1;

    /// <summary>
    /// Taken by a fence and by the run's local store (<see cref="Invalidation.InvalidationGate"/>), so that once the fence is
    /// up the run's entry is either in L1 already (for the invalidation to remove) or never will be.
    /// </summary>
    public Lock StoreLock => _storeLock;

    /// <summary>Sets the fence; only <see cref="Invalidation.InvalidationGate.Fence"/> calls it, under <see cref="StoreLock"/>.</summary>
    public void MarkFenced() => Volatile.Write(ref _fenced, 1);

    /// <summary>The tags the run started from (null when untagged), with <see cref="TagStamps"/>, their versions then.</summary>
    public Invalidation.TagState[]? Tags => Volatile.Read(ref _tags);

    public long[]? TagStamps => _tagStamps;

    /// <summary>
    /// Whether the run's factory may add tags (it gets a context): their versions before it ran are unknown, so the run is
    /// fenced by <see cref="TagBumpsAtStart"/> instead.
    /// </summary>
    public bool MayAddTags { get; init; }

    /// <summary>This node's count of tag bumps (any tag) when the run took its snapshot; -1 before that.</summary>
    public long TagBumpsAtStart => Volatile.Read(ref _tagBumpsAtStart);

    public void MarkBackground() => Volatile.Write(ref _background, 1);

    /// <summary>
    /// True when every waiter left a foreground run and its factory token was cancelled: the run is winding down and
    /// must not be joined (a new caller would inherit a cancellation it never asked for).
    /// </summary>
    public bool Abandoned => Volatile.Read(ref _waiters) < 0;

    /// <summary>Whether any caller is waiting on the run now.</summary>
    public bool HasWaiters => Volatile.Read(ref _waiters) > 0;

    /// <summary>Records the tag versions the run started from, so a tag invalidation during the run stops new joiners.</summary>
    public void SetTagSnapshot(Invalidation.TagState[]? tags, long[]? stamps, long tagBumps)
    {
        _tagStamps = stamps;
        Volatile.Write(ref _tags, tags);
        Volatile.Write(ref _tagBumpsAtStart, tagBumps);
    }

    /// <summary>Joins as a waiter; false if the run was abandoned (then start a new one).</summary>
    public bool TryAddWaiter()
    {
        while (true)
        {
            var w = Volatile.Read(ref _waiters);
            if (w < 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _waiters, w + 1, w) == w)
            {
                return true;
            }
        }
    }

    /// <summary>
    /// A waiter left (cancelled or served stale). The last one out of a foreground run marks it abandoned (so nobody joins
    /// it any more) and cancels the factory, atomically with respect to <see cref="TryAddWaiter"/>.
    /// </summary>
    public void RemoveWaiter()
    {
        while (true)
        {
            var w = Volatile.Read(ref _waiters);
            if (w == 1 && !IsBackground && !_completion.Task.IsCompleted)
            {
                if (Interlocked.CompareExchange(ref _waiters, -1, 1) == 1)
                {
                    _cts.Cancel();
                    return;
                }

                continue;
            }

            if (w <= 0 || Interlocked.CompareExchange(ref _waiters, w - 1, w) == w)
            {
                return;
            }
        }
    }

    /// <summary>Cancels the factory's token (hard timeout). The CTS is never disposed: it has no timer, so nothing leaks.</summary>
    public void CancelFactory() => _cts.Cancel();

    public void Complete(FlightResult result) => _completion.TrySetResult(result);

    public void Fail(Exception exception)
    {
        _completion.TrySetException(exception);

        // Mark the exception observed: a background run may have no waiter, and that must not surface as UnobservedTaskException.
        _ = _completion.Task.Exception;
    }
}

/// <summary>
/// What a flight produced: the value, and the entry if one was stored or served; <paramref name="FromShared"/> when it was
/// read from the shared tier (an L2 hit), not computed here.
/// </summary>
internal readonly record struct FlightResult(object? Value, CacheEntry? Entry, bool Stale, bool FromShared = false);
