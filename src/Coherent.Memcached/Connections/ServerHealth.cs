namespace Coherent.Memcached.Connections;

/// <summary>
/// The circuit breaker of one server: down after <c>threshold</c> consecutive connectivity failures (timeouts, refused or
/// lost connections), and back up only when a probe succeeds. A success resets the count, so isolated failures never
/// take a server out. While down, the ring sends the server's keys to the next live server.
/// </summary>
internal sealed class ServerHealth(int threshold)
{
    private int _failures;
    private int _down;

    public bool IsDown => Volatile.Read(ref _down) == 1;

    public int ConsecutiveFailures => Volatile.Read(ref _failures);

    /// <summary>Raised once per transition to down (the pool then drops the server's connections).</summary>
    public event Action? WentDown;

    public void OnSuccess()
    {
        // Plain read first: a healthy server costs no interlocked write to a shared cache line.
        if (Volatile.Read(ref _failures) != 0)
        {
            Volatile.Write(ref _failures, 0);
        }
    }

    public void OnFailure()
    {
        if (Interlocked.Increment(ref _failures) >= threshold)
        {
            MarkDown();
        }
    }

    public void MarkDown()
    {
        if (Interlocked.Exchange(ref _down, 1) == 0)
        {
            WentDown?.Invoke();
        }
    }

    /// <summary>The probe succeeded: the server takes its keys back.</summary>
    public void Readmit()
    {
        Volatile.Write(ref _failures, 0);
        Volatile.Write(ref _down, 0);
    }
}
