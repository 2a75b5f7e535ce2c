using System.Collections.Concurrent;
using Coherent.Memcached.Protocol;
using Coherent.Memcached.Store;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// L2 reads: the entry (<c>mg v c t</c>, with <c>N</c> when the caller may compute) and the clear and tag counters
/// (<c>ma … D0</c>) in one pipelined round trip; a versioned key's item is its pointer, and the version it names is read
/// next (<c>MemcachedTier.Versioned.cs</c>). Which tags to ask for is guessed from the key's last read entry; a guess that
/// misses a tag costs a second round trip for it. A value no reader may use (stamped before its tag's or the clear's
/// version, unreadable) is deleted if unchanged (<c>md … C</c>) and read again, so the next <c>mg … N</c> hands one caller
/// the lease: a miss always carries a CAS to fence the recompute with. A value merely expired on the engine's clock (kept
/// past its Ttl for fail-safe, <see cref="SharedTierEntry.RetainUntilMs"/>) is marked stale instead (<c>md … I C</c>): the
/// next read wins the lease with it (<c>X W</c>) and every other reader gets it at once (<c>X Z</c>), each as the
/// <see cref="SharedTierRead.Stale"/> value of its miss, which the engine serves only when its factory fails or while
/// another node recomputes.
/// </summary>
internal sealed partial class MemcachedTier
{
    /// <summary>
    /// TTL of the placeholder a missing read creates (<c>N</c>), and of a kept value marked stale: the lease until the winner
    /// asks for its real lease time (<see cref="TryAcquireLeaseAsync"/> extends it when longer). Three seconds, because
    /// Memcached's clock ticks in whole seconds: it lives two to three, above the engine's shortest lease (one second).
    /// </summary>
    private static readonly TimeSpan PlaceholderTtl = TimeSpan.FromSeconds(3);

    /// <summary>Keys whose last read entry had tags, with them; forgotten all at once past this many (a wrong guess costs a round trip).</summary>
    private const int MaxGuessedKeys = 100_000;

    private readonly ConcurrentDictionary<string, string[]> _tagGuess = new(StringComparer.Ordinal);

    private static readonly VersionKey[] ClearOnly = [VersionKey.Clear];

    public ValueTask<SharedTierRead> ReadAsync(SharedTierKey key, CancellationToken cancellationToken) => ReadAsync(key.Key, IsVersioned(key), lease: true, cancellationToken);

    public ValueTask<SharedTierRead> LookupAsync(SharedTierKey key, CancellationToken cancellationToken) => ReadAsync(key.Key, IsVersioned(key), lease: false, cancellationToken);

    /// <summary>What a read made of the stored bytes: no verdict when they were unusable (refused, or a pointer to a version that is gone).</summary>
    private readonly record struct Judged(SharedTierVerdict? Verdict, SharedTierEntry? Entry, ulong Version);

    /// <summary>
    /// A read's first step when a bulk read did it for many keys at once (<c>MemcachedTier.ReadMany.cs</c>): the key as sent,
    /// what came back, the counters asked for with it, and where the key lived when it was sent. A class: the single read's
    /// state machine carries a reference to none instead of room for one.
    /// </summary>
    private sealed record FirstRead(byte[] KeyUtf8, byte[] WireKey, ReadWithVersions Read, VersionKey[] Asked, (int Server, int Generation) Owner);

    private ValueTask<SharedTierRead> ReadAsync(string key, bool versioned, bool lease, CancellationToken cancellationToken) =>
        ReadAsync(key, versioned, lease, first: null, cancellationToken);

    /// <summary>
    /// The read, judged here for a single read and for each key of a bulk read alike: <paramref name="first"/>, when given,
    /// is the first round trip already done (a bulk read's batch), and everything after it is this method's.
    /// </summary>
    private async ValueTask<SharedTierRead> ReadAsync(string key, bool versioned, bool lease, FirstRead? first, CancellationToken cancellationToken)
    {
        try
        {
            var keyUtf8 = first?.KeyUtf8 ?? MemcachedKey.Utf8(key);
            var wireKey = first?.WireKey ?? _store.DataKey(keyUtf8);
            long keepUntilMs = 0; // set when this read marked a kept value stale, to win its lease with it
            for (var attempt = 0; ; attempt++)
            {
                VersionKey[] asked;
                (int Server, int Generation) owner;
                ReadWithVersions read;
                if (attempt == 0 && first is not null)
                {
                    (_, _, read, asked, owner) = first;
                }
                else
                {
                    asked = VersionsToAsk(key);
                    owner = Owner(wireKey);
                    read = await _store.ReadWithVersionsAsync(keyUtf8, wireKey, ReadLease(lease), asked, cancellationToken).ConfigureAwait(false);
                }

                Observe(asked, read.Versions);
                var entry = read.Entry;
                var epoch = Epoch(owner, entry.Cas);
                var judged = entry.Payload is { } stored
                    ? await JudgeAsync(key, keyUtf8, versioned, stored, epoch, asked, read.Versions, cancellationToken).ConfigureAwait(false)
                    : default;
                if (entry.Payload is null && entry.Rejection != FrameRejection.None)
                {
                    Reject(key, entry.Rejection == FrameRejection.Aliased ? SharedTierEnvelopeRejection.Aliased
                        : entry.Rejection == FrameRejection.Foreign ? SharedTierEnvelopeRejection.Foreign : SharedTierEnvelopeRejection.Corrupt);
                }

                // Expired on the engine's clock and not invalidated (an item marked stale was marked for that alone: a key's
                // invalidation deletes it): the fail-safe value of this miss. Never for a plain lookup, which runs no factory.
                var stale = lease && (judged.Verdict == SharedTierVerdict.Expired || (entry.IsStale && judged.Verdict == SharedTierVerdict.Current)) ? judged.Entry : null;
                if (entry.Outcome == ReadOutcome.Won)
                {
                    if (!lease)
                    {
                        // A plain read may be handed the win of an item another reader has just marked stale: give it back.
                        await _store.DeleteIfAsync(key, entry.Cas, cancellationToken).ConfigureAwait(false);
                        return SharedTierRead.MissWithoutEpoch;
                    }

                    var keep = stale is null ? 0 : keepUntilMs > 0 ? keepUntilMs : KeepUntil(entry);
                    RecordWon(key, epoch, keep);
                    RememberPointer(key, epoch, judged.Version);
                    return SharedTierRead.Miss(epoch, stale);
                }

                if (!entry.IsStale && judged.Verdict == SharedTierVerdict.Current)
                {
                    // Served even while another node holds the item's recache win: that is an early refresh elsewhere, and
                    // the value stays a hit until it is replaced.
                    return SharedTierRead.Hit(judged.Entry!);
                }

                if (entry.Outcome == ReadOutcome.HeldByOther || entry.IsStale)
                {
                    if (!lease || entry.Cas == 0)
                    {
                        return SharedTierRead.MissWithoutEpoch;
                    }

                    RecordHeld(key);
                    RememberPointer(key, epoch, judged.Version);
                    return SharedTierRead.Miss(epoch, stale);
                }

                if (entry.Cas == 0)
                {
                    return lease ? SharedTierRead.Unavailable : SharedTierRead.MissWithoutEpoch; // EN: only without N
                }

                if (!lease)
                {
                    return SharedTierRead.MissWithoutEpoch;
                }

                if (attempt == 1)
                {
                    // Changed under us twice: fence on what is there, without a lease.
                    RememberPointer(key, epoch, judged.Version);
                    return SharedTierRead.Miss(epoch, stale);
                }

                if (stale is not null && entry.RemainingTtlSeconds is > 0)
                {
                    // Kept for fail-safe: marked stale if unchanged rather than removed, so the next read wins the lease with it.
                    keepUntilMs = KeepUntil(entry);
                    await _store.InvalidateIfAsync(key, entry.Cas, PlaceholderTtl, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // Unusable and nobody recomputes it: remove it if unchanged, so the next read's N hands out the lease.
                    await _store.DeleteIfAsync(key, entry.Cas, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            MemcachedLog.ReadFailed(_logger, key, ex);
            return SharedTierRead.Unavailable;
        }
    }

    /// <summary>What a read asks for besides the value: with a lease, a miss creates the placeholder whose CAS fences the recompute.</summary>
    private static LeaseOptions ReadLease(bool lease) => lease ? new LeaseOptions(PlaceholderTtl) : LeaseOptions.None;

    /// <summary>The counters a read of <paramref name="key"/> asks for with its entry: the clear counter, and the tags its last read entry had.</summary>
    private VersionKey[] VersionsToAsk(string key) =>
        VersionKeys(_tagGuess.IsEmpty ? null : _tagGuess.TryGetValue(key, out var guessed) ? guessed : null);

    /// <summary>Until when (engine clock) Memcached keeps the item just read, from its remaining TTL: how long a released fail-safe value is stored back for.</summary>
    private long KeepUntil(LeaseRead read) => read.RemainingTtlSeconds is > 0 and var seconds ? Host.NowMs() + seconds * 1000 : 0;

    /// <summary>
    /// Judges a stored value: refused bytes (or, for a versioned key, a pointer to a version that is gone) have no verdict;
    /// otherwise <see cref="SharedTierJudge"/> decides, first with the counters read with the entry, then — when the entry
    /// carries a tag the read did not ask for — with those read now (second round trip; guessed next time).
    /// </summary>
    private async ValueTask<Judged> JudgeAsync(string key, byte[] keyUtf8, bool versioned, ReadOnlyMemory<byte> stored, long epoch, VersionKey[] asked, ulong[] versions, CancellationToken cancellationToken)
    {
        var payload = stored;
        ulong version = 0;
        if (versioned)
        {
            (var resolved, version) = await ResolveAsync(key, keyUtf8, stored, cancellationToken).ConfigureAwait(false);
            if (resolved is not { } value)
            {
                return new Judged(null, null, version);
            }

            payload = value;
        }

        var rejection = SharedTierEnvelope.TryRead(key, payload, _signingKey, _maxPayloadBytes, out var envelope);
        if (rejection != SharedTierEnvelopeRejection.None)
        {
            Reject(key, rejection);
            return new Judged(null, null, version);
        }

        RememberTags(key, envelope.Tags);

        // An entry without tags (the common one) is judged without building a lookup of tag versions.
        var nowMs = Host.NowMs();
        var known = envelope.Tags is null ? null : AskedVersions(asked, versions);
        var verdict = SharedTierJudge.Judge(envelope.ExpiresAtMs, envelope.ClearVersion, envelope.Tags, nowMs, (long)versions[0], known is null ? null : known.TryGetValue);
        if (verdict == SharedTierVerdict.TagVersionUnknown)
        {
            var missing = envelope.Tags!.Where(t => !known!.ContainsKey(t.Tag)).Select(t => VersionKey.Tag(t.Tag)).ToList();
            var more = await _store.ReadVersionsAsync(missing, cancellationToken).ConfigureAwait(false);
            Observe(missing, more);
            for (var i = 0; i < missing.Count; i++)
            {
                known![missing[i].Name] = (long)more[i];
            }

            verdict = SharedTierJudge.Judge(envelope.ExpiresAtMs, envelope.ClearVersion, envelope.Tags, nowMs, (long)versions[0], known!.TryGetValue);
        }

        if (verdict is not (SharedTierVerdict.Current or SharedTierVerdict.Expired))
        {
            return new Judged(verdict, null, version);
        }

        return new Judged(verdict, new SharedTierEntry
        {
            Payload = envelope.Payload,
            CreatedAtMs = envelope.CreatedAtMs,
            ExpiresAtMs = envelope.ExpiresAtMs,
            DeltaMs = envelope.DeltaMs,
            Epoch = epoch,
            Tags = SharedTierEnvelopeData.TagNames(envelope.Tags),
            Metadata = envelope.Metadata,
        }, version);
    }

    /// <summary>The tag counters read with the entry (index 0 is the clear counter), by tag.</summary>
    private static Dictionary<string, long> AskedVersions(VersionKey[] asked, ulong[] versions)
    {
        var known = new Dictionary<string, long>(asked.Length, StringComparer.Ordinal);
        for (var i = 1; i < asked.Length; i++)
        {
            known[asked[i].Name] = (long)versions[i];
        }

        return known;
    }

    private static VersionKey[] VersionKeys(string[]? tags)
    {
        if (tags is null)
        {
            return ClearOnly;
        }

        var keys = new VersionKey[tags.Length + 1];
        keys[0] = VersionKey.Clear;
        for (var i = 0; i < tags.Length; i++)
        {
            keys[i + 1] = VersionKey.Tag(tags[i]);
        }

        return keys;
    }

    private void RememberTags(string key, (string Tag, long Version)[]? tags)
    {
        if (tags is null)
        {
            if (!_tagGuess.IsEmpty)
            {
                _tagGuess.TryRemove(key, out _);
            }

            return;
        }

        if (_tagGuess.TryGetValue(key, out var known) && known.Length == tags.Length && known.Select((t, i) => t == tags[i].Tag).All(same => same))
        {
            return;
        }

        if (_tagGuess.Count >= MaxGuessedKeys)
        {
            _tagGuess.Clear();
        }

        _tagGuess[key] = SharedTierEnvelopeData.TagNames(tags)!;
    }

    public async ValueTask<SharedTierVersions> CaptureVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken)
    {
        var keys = VersionKeys(tags?.ToArray());
        ulong[] values;
        try
        {
            values = await _store.ReadVersionsAsync(keys, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MemcachedException or ObjectDisposedException)
        {
            throw new CoherentException($"The tag and clear versions could not be read from Memcached: {ex.Message}", ex);
        }

        Observe(keys, values);
        (string, long)[]? known = null;
        if (tags is { Count: > 0 })
        {
            known = new (string, long)[tags.Count];
            for (var i = 0; i < known.Length; i++)
            {
                known[i] = (tags[i], (long)values[i + 1]);
            }
        }

        return new SharedTierVersions((long)values[0], known);
    }
}
