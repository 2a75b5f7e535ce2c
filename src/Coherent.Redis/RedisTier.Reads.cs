using Coherent.Distributed;
using Coherent.Policies;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>
/// L2 reads. A plain key is read with one <c>MGET</c> of its data and epoch keys: one command, so as atomic as a script
/// (the epoch returned is the one that went with the data), and both keys carry the key's hash tag, so it stays in one
/// slot on a Cluster. A script cost 30–40 % more than a GET on this path (Redis runs a script, the client parses a
/// nested reply); MGET costs a few per cent. Versioned keys keep their script, which follows the pointer.
/// </summary>
internal sealed partial class RedisTier
{
    /// <summary>Set when the server refused MGET (an ACL granted before MGET was needed): plain reads then use read.lua.</summary>
    private volatile bool _readByScript;

    public async ValueTask<DistributedReadResult> ReadAsync(string key, FamilyState family, CancellationToken cancellationToken)
    {
        if (_breaker.IsOpen)
        {
            return DistributedReadResult.Down;
        }

        Task? call = null;
        RedisValue data;
        RedisValue epochValue;
        try
        {
            if (!_versionsLoaded.IsCompletedSuccessfully)
            {
                await EnsureVersionsLoadedAsync(cancellationToken).ConfigureAwait(false);
            }

            if (IsVersioned(family) || _readByScript)
            {
                var script = IsVersioned(family)
                    ? _db.ScriptEvaluateAsync(Scripts.ReadVersioned, [_keys.Pointer(key), _keys.Epoch(key)], [_keys.VersionBase(key)])
                    : _db.ScriptEvaluateAsync(Scripts.Read, _keys.DataAndEpoch(key));
                call = script;
                var parts = (RedisResult[])(await Bounded(script, cancellationToken).ConfigureAwait(false))!;
                data = (RedisValue)parts[0];
                epochValue = (RedisValue)parts[1];
            }
            else
            {
                var mget = _db.StringGetAsync(_keys.DataAndEpoch(key));
                call = mget;
                var values = await Bounded(mget, cancellationToken).ConfigureAwait(false);
                data = values[0];
                epochValue = values[1];
            }

            _breaker.OnSuccess();
        }
        catch (RedisServerException ex) when (call is Task<RedisValue[]> && ex.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
            // Not an outage: the server answers, the ACL lacks +mget. Read by script from now on (it needs only +evalsha and
            // +get), starting with this read: once only, since the flag is now set.
            _readByScript = true;
            RedisLog.MgetRefused(_logger, ex);
            return await ReadAsync(key, family, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            ObserveLateFault(call);
            _breaker.OnFailure(ex);
            RedisLog.ReadFailed(_logger, key, ex);
            return DistributedReadResult.Down;
        }

        var epoch = epochValue.IsNull ? 0 : (long)epochValue;
        if (data.IsNull)
        {
            return new DistributedReadResult(null, epoch);
        }

        // No copy: the reply's array itself (RedisValue hands out the buffer it holds).
        var rejection = Envelope.TryRead(key, (ReadOnlyMemory<byte>)data, _signingKey, _maxPayloadBytes, out var envelope);
        if (rejection != EnvelopeRejection.None)
        {
            Reject(key, rejection);
            return new DistributedReadResult(null, epoch);
        }

        if (envelope.ExpiresAtMs <= _time.GetUtcNow().ToUnixTimeMilliseconds() || !await IsCurrentAsync(envelope, cancellationToken).ConfigureAwait(false))
        {
            return new DistributedReadResult(null, epoch);
        }

        return new DistributedReadResult(new DistributedEntry
        {
            Payload = envelope.Payload,
            CreatedAtMs = envelope.CreatedAtMs,
            ExpiresAtMs = envelope.ExpiresAtMs,
            DeltaMs = envelope.DeltaMs,
            Epoch = epoch,
            Tags = TagNames(envelope.Tags),
        }, epoch);
    }

    private bool IsVersioned(FamilyState family) => _options.VersionedFamilies.Count > 0 && _options.VersionedFamilies.Contains(family.Name);

    /// <summary>
    /// Bounds a read by the operation timeout. The client's own AsyncTimeout is not enough: it is checked on the client's
    /// heartbeat (up to a second late), and a connection passed in by the application may set it to anything.
    /// </summary>
    private Task<T> Bounded<T>(Task<T> call, CancellationToken cancellationToken) =>
        call.IsCompleted ? call : call.WaitAsync(_options.OperationTimeout, _time, cancellationToken);

    /// <summary>A call abandoned by its deadline faults later on its own: observe that, so it never surfaces as unobserved.</summary>
    private static void ObserveLateFault(Task? call) =>
        _ = call?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private static string[]? TagNames((string Tag, long Version)[]? tags)
    {
        if (tags is null)
        {
            return null;
        }

        var names = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            names[i] = tags[i].Tag;
        }

        return names;
    }
}
