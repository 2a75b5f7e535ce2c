using StackExchange.Redis;

namespace Coherent.Redis.Storage;

/// <summary>
/// Redis names for one application. Every key of one cache key shares the hash tag <c>{key}</c>, so a script touching
/// the data, epoch and lease keys stays in one slot on Redis Cluster. Tag and clear versions live in their own slots and
/// are only ever touched by single-key scripts.
/// </summary>
internal sealed class KeySpace
{
    private readonly string _prefix;

    public KeySpace(string prefix)
    {
        _prefix = prefix;
        Channel = RedisChannel.Literal(prefix + ":bus");
        ClearKey = prefix + ":clear";
        Senders = prefix + ":senders";
        TagBumps = prefix + ":tagbumps";
    }

    /// <summary>The fleet's count of tag invalidations begun: moved before each tag bump (<see cref="Coherent.SharedTier.ISharedTier.ReadTagBumpSequenceAsync"/>).</summary>
    public RedisKey TagBumps { get; }

    public RedisChannel Channel { get; }

    public RedisKey ClearKey { get; }

    /// <summary>Hash of sender id to the last sequence number it had issued at its latest heartbeat: a subscriber's baseline.</summary>
    public RedisKey Senders { get; }

    public string Prefix => _prefix;

    public RedisKey Data(string key) => Compose(key, "}:d");

    public RedisKey Epoch(string key) => Compose(key, "}:e");

    public RedisKey Lease(string key) => Compose(key, "}:l");

    /// <summary>Pointer of a versioned key (holds the current version number).</summary>
    public RedisKey Pointer(string key) => Compose(key, "}:p");

    /// <summary>Base of a versioned key's data keys; the version number is appended.</summary>
    public string VersionBase(string key) => string.Concat(_prefix, ":{", key, "}:v");

    public RedisKey Tag(string tag) => string.Concat(_prefix, ":t:{", tag, "}");

    /// <summary>One string allocation per name (every read builds two).</summary>
    private RedisKey Compose(string key, string closeAndSuffix) => string.Concat(_prefix, ":{", key, closeAndSuffix);
}
