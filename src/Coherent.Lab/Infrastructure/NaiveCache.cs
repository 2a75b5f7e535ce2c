using System.Collections.Concurrent;
using Coherent.Testing;

namespace Coherent.Lab.Infrastructure;

/// <summary>
/// The cache most services start with: a dictionary with a TTL and nothing else. Every caller that misses goes to the
/// source; the herd scenario uses it as the "no protection" baseline.
/// </summary>
internal sealed class NaiveCache(TimeSpan ttl, double jitter, Random random)
{
    private readonly ConcurrentDictionary<string, (object Value, double ExpiresAt)> _entries = new();

    public async ValueTask<T> GetOrSetAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, CancellationToken cancellationToken)
        where T : notnull
    {
        if (_entries.TryGetValue(key, out var entry) && entry.ExpiresAt > ProofClock.NowMs)
        {
            return (T)entry.Value;
        }

        var value = await factory(state, cancellationToken);
        double factor;
        lock (random)
        {
            factor = 1 + (((random.NextDouble() * 2) - 1) * jitter);
        }

        _entries[key] = (value, ProofClock.NowMs + (ttl.TotalMilliseconds * factor));
        return value;
    }
}
