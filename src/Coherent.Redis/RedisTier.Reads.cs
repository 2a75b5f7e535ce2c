using Coherent.SharedTier;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>
/// L2 reads. A plain key's hit is one <c>GET</c> of its data key, the same command as a bare read of the payload: the entry
/// carries the epoch it was stored under, and as every epoch bump deletes or replaces the data in the same script, data
/// present in Redis was stored under an epoch no newer than the current one (a fill's is the current one; a SetAsync
/// stores the writer's older one, which can only make a fence refuse, never accept, a later store). Anything but a hit (no
/// data, expired, invalidated by a tag or clear, unreadable bytes) then reads the epoch key: the engine fences its
/// recompute with it, so the recompute replaces what is there. Versioned keys keep their script, which follows the pointer.
/// </summary>
internal sealed partial class RedisTier
{
    public ValueTask<SharedTierRead> ReadAsync(SharedTierKey key, CancellationToken cancellationToken) =>
        ReadAsync(key.Key, IsVersioned(key), epochOnMiss: true, cancellationToken);

    public ValueTask<SharedTierRead> LookupAsync(SharedTierKey key, CancellationToken cancellationToken) =>
        ReadAsync(key.Key, IsVersioned(key), epochOnMiss: false, cancellationToken);

    /// <summary>The lease script reads (or creates) the epoch: a miss here skips the epoch's round trip and keeps its stale entry.</summary>
    public ValueTask<SharedTierRead> ReadForLeaseAsync(SharedTierKey key, CancellationToken cancellationToken) =>
        ReadAsync(key.Key, IsVersioned(key), epochOnMiss: false, cancellationToken, keepStale: true);

    private async ValueTask<SharedTierRead> ReadAsync(string key, bool versioned, bool epochOnMiss, CancellationToken cancellationToken, bool keepStale = false)
    {
        if (_breaker.IsOpen)
        {
            return SharedTierRead.Unavailable;
        }

        Task? call = null;
        RedisValue data;
        long? epoch = null;
        try
        {
            if (!_versionsLoaded.IsCompletedSuccessfully)
            {
                await EnsureVersionsLoadedAsync(cancellationToken).ConfigureAwait(false);
            }

            if (versioned)
            {
                var script = _db.ScriptEvaluateAsync(Scripts.ReadVersioned, [_keys.Pointer(key), _keys.Epoch(key)], [_keys.VersionBase(key), EpochFloor(), EpochRetentionMs]);
                call = script;
                var parts = (RedisResult[])(await Bounded(script, cancellationToken).ConfigureAwait(false))!;
                data = (RedisValue)parts[0];
                epoch = ReadEpoch(_keys.Epoch(key), (RedisValue)parts[1]);
            }
            else if (_signingKey is not null)
            {
                // Signed: the key's epoch comes with the data, pipelined in the same round trip (two commands for the
                // server), so an envelope older than it — captured and written back after an invalidation — is refused.
                var get = _db.StringGetAsync(_keys.Data(key));
                var epochKey = _keys.Epoch(key);
                var both = Task.WhenAll(get, _db.StringGetAsync(epochKey));
                call = both;
                var replies = await Bounded(both, cancellationToken).ConfigureAwait(false);
                data = replies[0];
                epoch = ReadEpoch(epochKey, replies[1]);
            }
            else
            {
                var get = _db.StringGetAsync(_keys.Data(key));
                call = get;
                data = await Bounded(get, cancellationToken).ConfigureAwait(false);
            }

            _breaker.OnSuccess();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return ReadFailed(key, call, ex);
        }

        return await JudgeReply(key, data, epoch, epochOnMiss, keepStale: epochOnMiss || keepStale, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A read's reply as its answer, for a single read and for each key of a batch alike: a hit; or a miss with the epoch
    /// (read with the data, or now when <paramref name="epochOnMiss"/>, else left out), carrying the expired entry kept for
    /// fail-safe when <paramref name="keepStale"/> (not for a lookup, which never serves one). Not an async method: a hit
    /// judged with what this node knows completes here, without a frame of its own.
    /// </summary>
    private ValueTask<SharedTierRead> JudgeReply(string key, RedisValue data, long? epoch, bool epochOnMiss, bool keepStale, CancellationToken cancellationToken)
    {
        if (data.IsNull)
        {
            return MissReply(key, epoch, stale: null, epochOnMiss, cancellationToken);
        }

        // Judged outside the read's frame (TryJudge): what lives across an await goes into its heap box, and the envelope's
        // fields made that box the largest allocation of an L2 hit after the value itself.
        var verdict = TryJudge(key, data, epoch, out var hit);
        return verdict switch
        {
            Verdict.Hit => new ValueTask<SharedTierRead>(hit),
            Verdict.TagVersionUnknown => JudgeWithTagVersionsThenReplyAsync(key, data, epoch, epochOnMiss, keepStale, cancellationToken),
            _ => MissReply(key, epoch, verdict == Verdict.Expired && keepStale ? hit.Entry : null, epochOnMiss, cancellationToken),
        };
    }

    /// <summary><see cref="JudgeReply"/> for an entry carrying a tag this node has not seen: the tag's version first.</summary>
    private async ValueTask<SharedTierRead> JudgeWithTagVersionsThenReplyAsync(string key, RedisValue data, long? epoch, bool epochOnMiss, bool keepStale, CancellationToken cancellationToken)
    {
        var (verdict, hit) = await JudgeWithTagVersionsAsync(key, data, epoch, cancellationToken).ConfigureAwait(false);
        return verdict == Verdict.Hit
            ? hit
            : await MissReply(key, epoch, verdict == Verdict.Expired && keepStale ? hit.Entry : null, epochOnMiss, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A miss: with the epoch read with the data, or read now (<paramref name="epochOnMiss"/>), or without it.</summary>
    private ValueTask<SharedTierRead> MissReply(string key, long? epoch, SharedTierEntry? stale, bool epochOnMiss, CancellationToken cancellationToken) =>
        epoch is { } known ? new ValueTask<SharedTierRead>(SharedTierRead.Miss(known, stale))
        : epochOnMiss ? ReadEpochAsync(key, stale, cancellationToken)
        : new ValueTask<SharedTierRead>(SharedTierRead.MissWithoutEpochKeeping(stale));

    /// <summary>The tag versions this node has read or been told, for the judgement (one delegate for the tier's life).</summary>
    private SharedTierTagVersion CurrentTagVersion => _knownTagVersion ??= _tagVersions.TryGetValue;

    private SharedTierTagVersion? _knownTagVersion;

    private enum Verdict
    {
        Hit,
        Miss,
        Expired,
        TagVersionUnknown,
    }

    /// <summary>
    /// Reads the envelope and judges it with what this node knows: refused bytes, expired, or older than the clear or a
    /// tag's version is a miss. A tag this node has never seen needs a round trip (<see cref="JudgeWithTagVersionsAsync"/>).
    /// </summary>
    private Verdict TryJudge(string key, RedisValue data, long? epoch, out SharedTierRead hit)
    {
        hit = default;

        // No copy: the reply's array itself (RedisValue hands out the buffer it holds).
        var rejection = SharedTierEnvelope.TryRead(key, (ReadOnlyMemory<byte>)data, _signingKey, _maxPayloadBytes, out var envelope);
        if (rejection != SharedTierEnvelopeRejection.None)
        {
            Reject(key, rejection);
            return Verdict.Miss;
        }

        if (_signingKey is not null && epoch is { } current && envelope.Epoch < current)
        {
            // The MAC covers the epoch it was stored under; the key has moved on since (or its epoch was refused).
            if (current != UnmatchableEpoch)
            {
                Reject(key, SharedTierEnvelopeRejection.OlderThanEpoch);
            }

            return Verdict.Miss;
        }

        switch (SharedTierJudge.Judge(envelope.ExpiresAtMs, envelope.ClearVersion, envelope.Tags, Host.NowMs(), Volatile.Read(ref _clearVersion), CurrentTagVersion))
        {
            case SharedTierVerdict.TagVersionUnknown:
                return Verdict.TagVersionUnknown;
            case SharedTierVerdict.Expired:
                // Kept past its expiry for fail-safe (store TTL: SharedTierEntry.KeepUntilMs): a miss that carries it.
                hit = Hit(envelope, epoch);
                return Verdict.Expired;
            case not SharedTierVerdict.Current:
                return Verdict.Miss;
        }

        hit = Hit(envelope, epoch);
        return Verdict.Hit;
    }

    /// <summary>
    /// The first read of an entry carrying a tag this node has not seen yet: the entry's tag versions are read from Redis,
    /// then it is judged as any other (<see cref="TryJudge"/>: an entry stored before its tag's or the clear's latest
    /// version is a miss).
    /// </summary>
    private async ValueTask<(Verdict Verdict, SharedTierRead Judged)> JudgeWithTagVersionsAsync(string key, RedisValue data, long? epoch, CancellationToken cancellationToken)
    {
        var tags = SharedTierEnvelope.TryRead(key, (ReadOnlyMemory<byte>)data, _signingKey, _maxPayloadBytes, out var envelope) == SharedTierEnvelopeRejection.None ? envelope.Tags : null;
        foreach (var (tag, _) in tags ?? [])
        {
            await TagVersionAsync(tag, cancellationToken).ConfigureAwait(false);
        }

        var verdict = TryJudge(key, data, epoch, out var judged);
        return (verdict == Verdict.TagVersionUnknown ? Verdict.Miss : verdict, judged); // still unknown: the version read failed
    }

    private static SharedTierRead Hit(in SharedTierEnvelopeData envelope, long? epoch)
    {
        var stored = epoch ?? envelope.Epoch;
        return SharedTierRead.Hit(new SharedTierEntry
        {
            Payload = envelope.Payload,
            CreatedAtMs = envelope.CreatedAtMs,
            ExpiresAtMs = envelope.ExpiresAtMs,
            DeltaMs = envelope.DeltaMs,
            Epoch = stored,
            Tags = SharedTierEnvelopeData.TagNames(envelope.Tags),
            Metadata = envelope.Metadata,
        });
    }

    /// <summary>A miss's epoch (a second round trip, on misses only: they go on to a lease and a factory anyway).</summary>
    private async ValueTask<SharedTierRead> ReadEpochAsync(string key, SharedTierEntry? stale, CancellationToken cancellationToken)
    {
        // Created at the floor when missing: a fill must never fence on "missing" (see epoch.lua).
        var get = _db.ScriptEvaluateAsync(Scripts.Epoch, [_keys.Epoch(key)], [EpochFloor(), EpochRetentionMs]);
        try
        {
            var epoch = ReadEpoch(_keys.Epoch(key), (RedisValue)await Bounded(get, cancellationToken).ConfigureAwait(false));
            _breaker.OnSuccess();
            return SharedTierRead.Miss(epoch, stale);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return ReadFailed(key, get, ex);
        }
    }

    private SharedTierRead ReadFailed(string key, Task? call, Exception ex)
    {
        ObserveLateFault(call);
        _breaker.OnFailure(ex);
        RedisLog.ReadFailed(_logger, key, ex);
        return SharedTierRead.Unavailable;
    }

    /// <summary>
    /// Bounds a read by the operation timeout. The client's own AsyncTimeout is not enough: it is checked on the client's
    /// heartbeat (up to a second late), and a connection passed in by the application may set it to anything.
    /// </summary>
    private Task<T> Bounded<T>(Task<T> call, CancellationToken cancellationToken) =>
        call.IsCompleted ? call : call.WaitAsync(_options.OperationTimeout, _time, cancellationToken);

    /// <summary>As <see cref="Bounded{T}"/>, for a batch's calls awaited together.</summary>
    private Task Bounded(Task calls, CancellationToken cancellationToken) =>
        calls.IsCompleted ? calls : calls.WaitAsync(_options.OperationTimeout, _time, cancellationToken);

    /// <summary>A call abandoned by its deadline faults later on its own: observe that, so it never surfaces as unobserved.</summary>
    private static void ObserveLateFault(Task? call) =>
        _ = call?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
}
