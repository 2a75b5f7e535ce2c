using Microsoft.Extensions.Logging;

namespace Coherent.Redis.Resilience;

/// <summary>
/// Opens after <c>threshold</c> consecutive failures; while open, callers skip Redis at once. The heartbeat loop probes
/// it; the first success closes it. Each state change is logged once.
/// </summary>
internal sealed class CircuitBreaker(int threshold, ILogger logger)
{
    private int _failures;
    private int _open;

    public bool IsOpen => Volatile.Read(ref _open) == 1;

    public void OnSuccess()
    {
        // Every read succeeds through here: plain reads first, so a healthy server costs no interlocked operation and no
        // write to a cache line all cores share.
        if (Volatile.Read(ref _failures) != 0)
        {
            Volatile.Write(ref _failures, 0);
        }

        if (Volatile.Read(ref _open) == 1 && Interlocked.CompareExchange(ref _open, 0, 1) == 1)
        {
            RedisLog.BreakerClosed(logger);
        }
    }

    public void OnFailure(Exception? exception)
    {
        var failures = Interlocked.Increment(ref _failures);
        if (failures >= threshold && Interlocked.CompareExchange(ref _open, 1, 0) == 0)
        {
            RedisLog.BreakerOpened(logger, failures, exception);
        }
    }

    /// <summary>Opens at once (connection known lost).</summary>
    public void Trip(Exception? exception)
    {
        Volatile.Write(ref _failures, threshold);
        if (Interlocked.CompareExchange(ref _open, 1, 0) == 0)
        {
            RedisLog.BreakerOpened(logger, threshold, exception);
        }
    }
}

/// <summary>Thrown instead of calling Redis while the circuit breaker is open.</summary>
internal sealed class CircuitOpenException : Exception
{
    public CircuitOpenException() : base("The Redis circuit breaker is open: the server did not answer recently.") { }

    public CircuitOpenException(string message) : base(message) { }

    public CircuitOpenException(string message, Exception innerException) : base(message, innerException) { }
}
