using Coherent.Local;

namespace Coherent.Stampede;

/// <summary>
/// One factory run for one key, shared by every caller that arrives while it runs. Each caller waits with its own
/// token; the factory's token is cancelled only when every waiting caller has given up (and never for a background run).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The CTS has no timer; nothing to release.")]
internal sealed class Flight
{
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<FlightResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiters;
    private int _fenced;
    private int _background;

    public Flight(string key, long clearStamp)
    {
        Key = key;
        ClearStamp = clearStamp;
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

    public void Fence() => Volatile.Write(ref _fenced, 1);

    public void MarkBackground() => Volatile.Write(ref _background, 1);

    public void AddWaiter() => Interlocked.Increment(ref _waiters);

    /// <summary>A waiter left (cancelled or served stale). The last one out cancels a foreground run.</summary>
    public void RemoveWaiter()
    {
        if (Interlocked.Decrement(ref _waiters) == 0 && !IsBackground && !_completion.Task.IsCompleted)
        {
            _cts.Cancel();
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

/// <summary>What a flight produced: the value, and the entry if one was stored or served.</summary>
internal readonly record struct FlightResult(object? Value, CacheEntry? Entry, bool Stale);
