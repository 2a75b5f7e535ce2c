using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>The retry queue's policies: backoff after a refusal, what counts as one, and the last flush at disposal.</summary>
internal sealed partial class RedisTier
{
    /// <summary>RetryInterval doubled per refusal, at most a minute (or RetryInterval when that is longer).</summary>
    private TimeSpan Backoff(int attempts)
    {
        var cap = TimeSpan.FromMinutes(1) > _options.RetryInterval ? TimeSpan.FromMinutes(1) : _options.RetryInterval;
        var factor = Math.Pow(2, Math.Min(attempts - 1, 20));
        var delay = _options.RetryInterval * factor;
        return delay < cap ? delay : cap;
    }

    /// <summary>
    /// The server (or the client) refused this one command (NOPERM, a script error on a poisoned value, CROSSSLOT): retrying at
    /// once cannot help, and the server is up. Replies that mean a server in transition (loading, busy, failing over) are not
    /// refusals: they are treated as the server being unreachable.
    /// </summary>
    internal static bool IsRefusal(Exception ex) =>
        ex is RedisCommandException // refused by the client before sending (keys in several Cluster slots, e.g. a key starting with '}')
        || (ex is RedisServerException server && !TransientPrefixes.Any(p => server.Message.StartsWith(p, StringComparison.Ordinal)));

    private static readonly string[] TransientPrefixes = ["LOADING", "BUSY", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK"];

    /// <summary>
    /// Disposal: one attempt at every queued write, bounded by the operation timeout in all; each one that did not land is
    /// logged (event 2015), since nothing will retry it.
    /// </summary>
    private async Task FlushPendingAsync()
    {
        var writes = _pending.ToArray();
        if (writes.Length == 0)
        {
            return;
        }

        var calls = new Task[writes.Length];
        for (var i = 0; i < writes.Length; i++)
        {
            try
            {
                calls[i] = Send(writes[i].Value);
            }
            catch (Exception ex) when (ex is RedisException or RedisCommandException or ObjectDisposedException or InvalidOperationException)
            {
                calls[i] = Task.FromException(ex); // refused before sending (keys spanning Cluster slots): logged below like the rest
            }
        }

        try
        {
            await Task.WhenAll(calls).WaitAsync(_options.OperationTimeout, _time).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisCommandException or TimeoutException or ObjectDisposedException or InvalidOperationException)
        {
            // judged one by one below
        }

        for (var i = 0; i < writes.Length; i++)
        {
            if (calls[i].IsCompletedSuccessfully)
            {
                _pending.TryRemove(writes[i]);
                continue;
            }

            ObserveLateFault(calls[i]);
            var reason = calls[i].Exception?.InnerException?.Message ?? $"no answer within {_options.OperationTimeout.TotalMilliseconds} ms";
            RedisLog.InvalidationUndelivered(_logger, writes[i].Key, reason);
        }
    }
}

internal enum PendingKind
{
    Key,
    Tag,
    Clear,
}

/// <summary>An invalidation waiting to be applied to Redis.</summary>
internal sealed class PendingWrite(PendingKind kind, string name, bool versioned = false)
{
    /// <summary>For a key: whether its family is stored as versioned keys (decided when the write was made, from its family).</summary>
    public bool Versioned { get; } = versioned;

    public PendingKind Kind { get; } = kind;

    public string Name { get; } = name;

    public string Target => Kind switch
    {
        PendingKind.Key => "key " + Name,
        PendingKind.Tag => "tag " + Name,
        _ => "the whole cache",
    };

    /// <summary>Retry rounds that tried it (read and written by the one retry loop).</summary>
    public int Attempts { get; set; }

    /// <summary>Timestamp (TimeProvider) before which the retry loop skips it: set after the server refused it.</summary>
    public long NotBefore { get; set; }

    /// <summary>A new instance each time: the retry loop removes a write only if it is still the same instance.</summary>
    public static PendingWrite ForClear() => new(PendingKind.Clear, "");

    public static PendingWrite ForKey(string key, bool versioned) => new(PendingKind.Key, key, versioned);

    public static PendingWrite ForTag(string tag) => new(PendingKind.Tag, tag);
}
