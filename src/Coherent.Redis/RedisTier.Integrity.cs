using Coherent.SharedTier;
using System.Collections.Concurrent;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Redis;

/// <summary>
/// What the tier takes from others: bus frames (MAC'd with a signing key, replays and impossible values refused) and
/// versions read from Redis (parsed defensively). Anyone who may PUBLISH on the channel or write the application's keys
/// can send anything; each refusal is counted and logged, never an exception.
/// </summary>
internal sealed partial class RedisTier
{
    /// <summary>
    /// Largest epoch, tag or clear version accepted: the scripts count in Lua doubles, exact up to 2^53 - 1 (beyond it a
    /// bump stores a float and every later bump fails).
    /// </summary>
    internal const long MaxVersion = (1L << 53) - 1;

    /// <summary>An epoch no store can match: what a refused epoch reads as, so the fenced store refuses (and frees the lease).</summary>
    internal const long UnmatchableEpoch = long.MaxValue;

    /// <summary>
    /// Largest step a bus frame may move a known tag or clear version. The version is appended by the bump script, outside
    /// any MAC, so a larger one (forged, or after more bumps than a node could miss without a gap) is not taken from the
    /// bus: the tag is forgotten and read from Redis on its next use.
    /// </summary>
    private const long MaxBusVersionStep = 1 << 16;

    private readonly ConcurrentDictionary<string, long> _frameRejections = new(StringComparer.Ordinal);

    /// <summary>Bus frames refused, by reason (tests and diagnostics; also the <c>coherent.redis.rejected_bus_frames</c> counter).</summary>
    internal ConcurrentDictionary<string, long> RejectedFrames => _frameRejections;

    /// <summary>A key for one purpose and one application, so a bus MAC is never an envelope MAC and prefixes never share one.</summary>
    private static byte[] DeriveKey(byte[] signingKey, string purpose, string prefix) =>
        HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes("coherent/" + purpose + "/" + prefix));

    void IInvalidationBusListener.OnFilled(string key) => OnFilled(key);

    void IInvalidationBusListener.OnTagVersion(string tag, long version, string frame) => ObserveBusTagVersion(tag, version, frame);

    void IInvalidationBusListener.OnClearVersion(long version, string frame) => ObserveBusClearVersion(version, frame);

    void IInvalidationBusListener.OnPossibleLoss() => DistrustVersions();

    void IInvalidationBusListener.OnFrameRejected(string reason, string frame) => RejectFrame(reason, frame);

    /// <summary>Counts a refused frame; logged at powers of two per reason, so a flood of forgeries cannot flood the log.</summary>
    internal void RejectFrame(string reason, string frame)
    {
        var count = _frameRejections.AddOrUpdate(reason, 1, static (_, n) => n + 1);
        _rejectedFrames.Add(1, new KeyValuePair<string, object?>("coherent.cache", CacheName), new KeyValuePair<string, object?>("coherent.reason", reason));
        if (BitOperations.IsPow2(count))
        {
            RedisLog.FrameRejected(_logger, reason, count, frame.Length > 200 ? frame[..200] : frame);
        }
    }

    /// <summary>
    /// A tag version from the bus: never outside 0 to <see cref="MaxVersion"/>, and for a tag this node knows, never more
    /// than <see cref="MaxBusVersionStep"/> above it. A refused one is counted and the tag forgotten, so its next use reads
    /// Redis. A tag not known yet takes any version in range: it is the floor of this node's next bump, which must not go
    /// below what other nodes stamped if Redis loses the key (DataLossTests). The caller still drops the tag's local entries.
    /// </summary>
    internal void ObserveBusTagVersion(string tag, long version, string frame)
    {
        var known = _tagVersions.TryGetValue(tag, out var seen) ? seen : version;
        if (version is < 0 or > MaxVersion || version - known > MaxBusVersionStep)
        {
            _tagVersions.TryRemove(new KeyValuePair<string, long>(tag, seen));
            RejectFrame("version_out_of_range", frame);
            return;
        }

        ObserveTagVersion(tag, version);
    }

    /// <summary>The clear version from the bus, bounded like a tag's; a refused one is left to the periodic refresh from Redis.</summary>
    internal void ObserveBusClearVersion(long version, string frame)
    {
        if (version is < 0 or > MaxVersion || version - Volatile.Read(ref _clearVersion) > MaxBusVersionStep)
        {
            RejectFrame("version_out_of_range", frame);
            return;
        }

        ObserveClearVersion(version);
    }

    /// <summary>
    /// Parses a version or epoch read from Redis: missing is 0; anything but an integer from 0 to <see cref="MaxVersion"/>
    /// is refused (counted as <see cref="SharedTierEnvelopeRejection.BadVersion"/>, logged) and never thrown.
    /// </summary>
    private bool TryReadVersion(RedisKey redisKey, RedisValue value, out long version)
    {
        if (value.IsNull)
        {
            version = 0;
            return true;
        }

        if (value.TryParse(out version) && version is >= 0 and <= MaxVersion)
        {
            return true;
        }

        version = 0;
        CountRejection(SharedTierEnvelopeRejection.BadVersion);
        var text = value.ToString();
        RedisLog.VersionRejected(_logger, redisKey.ToString(), text.Length > 64 ? text[..64] : text);
        return false;
    }

    /// <summary>An epoch read from Redis; a refused one reads as <see cref="UnmatchableEpoch"/>.</summary>
    private long ReadEpoch(RedisKey redisKey, RedisValue value) => TryReadVersion(redisKey, value, out var epoch) ? epoch : UnmatchableEpoch;
}
