using Coherent.SharedTier;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>Tag and clear versions as this node knows them (from the bus, a periodic refresh, or Redis on first use), and script preloading.</summary>
internal sealed partial class RedisTier
{
    private const int MaxKnownTags = 10_000;

    /// <summary>Set once the versions were first loaded; from then on, a version the refresh learns voids local entries.</summary>
    private bool _versionsKnown;

    /// <summary>
    /// Loads the scripts on every server up front, so the first read does not pay for compiling them (Garnet compiles on first
    /// use, which can exceed the operation timeout). Failures are harmless: the scripts are sent in full when missing.
    /// </summary>
    private async Task PreloadScriptsAsync()
    {
        try
        {
            foreach (var server in _connection.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            {
                foreach (var script in Scripts.All)
                {
                    await server.ScriptLoadAsync(script).WaitAsync(TimeSpan.FromSeconds(10), _time).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or NotSupportedException)
        {
            RedisLog.ReadFailed(_logger, "(script preload)", ex);
        }
    }

    /// <summary>The clear version must be known before the first read or store (a new node would otherwise accept cleared entries).</summary>
    private async ValueTask EnsureVersionsLoadedAsync(CancellationToken cancellationToken)
    {
        var loaded = _versionsLoaded;
        if (loaded.IsCompletedSuccessfully)
        {
            return;
        }

        if (loaded.IsCompleted)
        {
            _versionsLoaded = loaded = RefreshVersionsAsync();
        }

        await loaded.WaitAsync(_options.OperationTimeout, _time, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<SharedTierVersions> CaptureVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken)
    {
        await EnsureVersionsLoadedAsync(cancellationToken).ConfigureAwait(false);
        return await KnownVersionsAsync(tags, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<long?> ReadTagBumpSequenceAsync(CancellationToken cancellationToken)
    {
        // Read from Redis, never from what this node knows: the count is what tells a bump this node has not heard of yet.
        var value = await CallAsync(_db.StringGetAsync(_keys.TagBumps), cancellationToken).ConfigureAwait(false);
        return value.IsNull ? 0 : value.TryParse(out long count) ? count : null;
    }

    /// <summary>The clear version and the tags' versions as this node knows them now (a tag never seen is read from Redis).</summary>
    private async ValueTask<SharedTierVersions> KnownVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken)
    {
        var clear = Volatile.Read(ref _clearVersion);
        if (tags is not { Count: > 0 })
        {
            return new SharedTierVersions(clear, null);
        }

        var known = new (string Tag, long Version)[tags.Count];
        for (var i = 0; i < known.Length; i++)
        {
            known[i] = (tags[i], await TagVersionAsync(tags[i], cancellationToken).ConfigureAwait(false));
        }

        return new SharedTierVersions(clear, known);
    }

    /// <summary>The tag's version as known here: from the bus, the periodic refresh, or (first use) Redis.</summary>
    private async ValueTask<long> TagVersionAsync(string tag, CancellationToken cancellationToken)
    {
        if (_tagVersions.TryGetValue(tag, out var known))
        {
            return known;
        }

        var tagKey = _keys.Tag(tag);
        var value = await CallAsync(_db.StringGetAsync(tagKey), cancellationToken).ConfigureAwait(false);
        if (!TryReadVersion(tagKey, value, out var version))
        {
            // Refused (logged): not remembered, so an entry carrying the tag stays a miss here until a bump repairs the key.
            return 0;
        }

        return _tagVersions.AddOrUpdate(tag, version, (_, old) => Math.Max(old, version));
    }

    /// <summary>Learns a tag's version; true when it moved this node's knowledge forward.</summary>
    internal bool ObserveTagVersion(string tag, long version)
    {
        var advanced = false;
        _tagVersions.AddOrUpdate(tag, version, (_, old) =>
        {
            advanced = version > old;
            return Math.Max(old, version);
        });
        return advanced;
    }

    /// <summary>Learns the clear version; true when it moved this node's knowledge forward.</summary>
    internal bool ObserveClearVersion(long version)
    {
        long current;
        while ((current = Volatile.Read(ref _clearVersion)) < version)
        {
            if (Interlocked.CompareExchange(ref _clearVersion, version, current) == current)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A bus gap or a recovery: a tag or clear message may have been lost, so what this node knows of the versions may be
    /// behind Redis. Reads and stores wait for a fresh load (<see cref="EnsureVersionsLoadedAsync"/>) instead of judging an
    /// old L2 entry current with the stale versions; what the load learns voids local entries (<see cref="RefreshVersionsAsync"/>).
    /// </summary>
    internal void DistrustVersions()
    {
        var load = RefreshVersionsAsync();
        ObserveLateFault(load); // a failed load is retried by the next read (EnsureVersionsLoadedAsync), never unobserved
        _versionsLoaded = load;
    }

    /// <summary>Re-reads every known tag version and the clear version (never cached forever; heals lost bus messages).</summary>
    internal async Task RefreshVersionsAsync()
    {
        // After the first load, a version learned here and not from the bus means its message was lost or is still on its
        // way: local entries stamped with the old version must not outlive it (an L2 read judged with the old version may
        // have put one in L1), so this node voids them as if the message had arrived. Twice is harmless.
        var voidLocal = Volatile.Read(ref _versionsKnown);
        var clear = await CallAsync(_db.StringGetAsync(_keys.ClearKey), CancellationToken.None).ConfigureAwait(false);
        if (TryReadVersion(_keys.ClearKey, clear, out var clearVersion) && ObserveClearVersion(clearVersion) && voidLocal)
        {
            Host.OnRemoteCleared();
        }

        Volatile.Write(ref _versionsKnown, true);
        if (_tagVersions.Count > MaxKnownTags)
        {
            _tagVersions.Clear(); // forgetting is safe: an unknown tag's version is read from Redis on next use
        }

        var tags = _tagVersions.Keys.ToArray();
        if (tags.Length == 0)
        {
            return;
        }

        var reads = tags.Select(t => _db.StringGetAsync(_keys.Tag(t))).ToArray();
        var values = await Task.WhenAll(reads).WaitAsync(_options.OperationTimeout, _time).ConfigureAwait(false);
        for (var i = 0; i < tags.Length; i++)
        {
            if (TryReadVersion(_keys.Tag(tags[i]), values[i], out var version) && ObserveTagVersion(tags[i], version) && voidLocal)
            {
                Host.OnRemoteTagInvalidated(tags[i]);
            }
        }
    }
}
