namespace Coherent.Redis.Bus;

/// <summary>
/// How the bus transport issues a Redis call: inside a <see cref="RedisTier"/> through its breaker and operation timeout
/// (a silent server then also opens the tier's breaker); on its own (<see cref="RedisInvalidation.CreateTransport"/>)
/// bounded by the timeout only (<see cref="TimedRedisCalls"/>).
/// </summary>
internal interface IRedisCalls
{
    /// <summary>Awaits <paramref name="call"/>, at most the operation timeout.</summary>
    Task<T> CallAsync<T>(Task<T> call, CancellationToken cancellationToken);
}

/// <summary>Calls bounded by a timeout, with no breaker: the transport a storage-only backend borrows.</summary>
internal sealed class TimedRedisCalls(TimeSpan timeout, TimeProvider time) : IRedisCalls
{
    public Task<T> CallAsync<T>(Task<T> call, CancellationToken cancellationToken) => call.WaitAsync(timeout, time, cancellationToken);
}
