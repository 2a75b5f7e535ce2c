using Coherent.SharedTier;
namespace Coherent;

/// <summary>
/// Settings of the Redis shared tier (L2, invalidation bus, fleet leases), given to
/// <see cref="RedisBuilderExtensions.WithRedis(CoherentCacheBuilder, string, Action{CoherentRedisOptions}?)"/>.
/// Validated when the cache is built; every problem is listed in one <see cref="CoherentConfigurationException"/>.
/// </summary>
public sealed class CoherentRedisOptions
{
    /// <summary>
    /// Prefix of every Redis key and of the bus channel, one per application, so two applications sharing a server never
    /// see each other's entries or messages. Letters, digits and <c>-_.:</c> only, at most 64 characters. Default <c>coherent</c>.
    /// </summary>
    public string KeyPrefix { get; set; } = "coherent";

    /// <summary>
    /// Largest payload stored in or accepted from Redis, in bytes; larger values are rejected on write
    /// (<see cref="PayloadTooLargeException"/>) and counted misses on read. Null: the cache's <c>WithMaxPayloadBytes</c> limit.
    /// </summary>
    public long? MaxPayloadBytes { get; set; }

    /// <summary>
    /// Optional shared secret (at least 16 bytes) for HMAC-SHA256 signing of entries and bus frames: entries not signed with it
    /// are refused (a counted miss), never deserialized, and so is an entry older than its key's epoch; frames not signed with
    /// it, or replayed, are dropped and counted. Every node of the application must use the same secret. Costs a pipelined
    /// epoch read on every L2 hit and a second round trip per <c>SetAsync</c> (docs/operations-redis.md).
    /// </summary>
    public byte[]? SigningKey { get; set; }

    /// <summary>Deadline of every Redis call (read, store, lease, invalidation). Default 500 ms.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Connect timeout when Coherent creates the connection from a configuration string. Default 2 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How often each node publishes its heartbeat on the bus. A node's local entries stay confirmed only while its own
    /// heartbeats come back, so this must be well under the smallest family <c>MaxStaleness</c>. Default 250 ms.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Consecutive failed calls that open the circuit breaker (reads then skip Redis until a probe succeeds). Default 3.</summary>
    public int BreakerFailureThreshold { get; set; } = 3;

    /// <summary>How often a failed invalidation is retried in the background until it lands. Default 500 ms.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Most invalidations waiting for Redis (failed writes being retried). When one more would not fit, every queued key and
    /// tag invalidation is collapsed into one clear of the whole cache, which voids everything they would have voided (so
    /// none is lost) at the cost of one recompute of every entry when it lands; counted (<c>coherent.redis.pending_collapsed</c>),
    /// logged (event 2014) and said in the caller's <see cref="InvalidationFailedException"/>. Default 10,000.
    /// </summary>
    public int MaxPendingInvalidations { get; set; } = 10_000;

    /// <summary>How long a key's epoch (fencing counter) is kept after its last bump. Must exceed the longest lease. Default 1 day.</summary>
    public TimeSpan EpochRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Families stored as versioned keys: <c>product:42</c> points to <c>product:42</c> version 8; a write stores version 9 and
    /// moves the pointer in one script, and the old version expires after <see cref="OldVersionGrace"/>.
    /// </summary>
    public ISet<string> VersionedFamilies { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Most keys in one command of a bulk call (the batch read's <c>MGET</c>, its lease script, its store script): a larger
    /// batch is split into commands of at most this many keys, pipelined together, so one bulk call neither holds Redis's
    /// single thread for long (a store script costs ~5–12 µs a key of server time) nor waits for one giant reply. Between
    /// 1 and 10,000. Default 256.
    /// </summary>
    public int MaxKeysPerBatch { get; set; } = 256;

    /// <summary>How long a superseded version of a versioned key stays readable. Default 10 s.</summary>
    public TimeSpan OldVersionGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Test hook: return true to drop an incoming bus message as if the network lost it.</summary>
    internal Func<string, bool>? DropIncomingMessage { get; set; }

    /// <summary>Test hook (an injected delay): awaited after a tag or clear bump landed in Redis, before this node's tier learns its version.</summary>
    internal Func<Task>? AfterVersionBumpLanded { get; set; }

    /// <summary>
    /// Test hook (an injected delay or fault): runs on the caller's thread before a key's invalidation or write-through goes
    /// to Redis; an exception it throws fails the write as a Redis failure would (queued and retried).
    /// </summary>
    internal Action<string>? BeforeWrite { get; set; }

    /// <summary>Test hook (an injected delay): awaited before the bus subscribes.</summary>
    internal Func<Task>? BeforeSubscribe { get; set; }

    internal void Validate(ICollection<string> problems)
    {
        ValidateNaming(problems);
        if (MaxPayloadBytes is < 1)
        {
            problems.Add($"Redis max payload must be positive; got {MaxPayloadBytes}.");
        }

        if (SigningKey is { Length: < 16 })
        {
            problems.Add($"Redis signing key must be at least 16 bytes; got {SigningKey.Length}.");
        }

        ConfigurationValues.CheckDuration(problems, "Redis", nameof(ConnectTimeout), ConnectTimeout, TimeSpan.FromMinutes(5));
        ConfigurationValues.CheckDuration(problems, "Redis", nameof(HeartbeatInterval), HeartbeatInterval, TimeSpan.FromMinutes(1));
        ConfigurationValues.CheckDuration(problems, "Redis", nameof(RetryInterval), RetryInterval, TimeSpan.FromMinutes(10));
        ConfigurationValues.CheckDuration(problems, "Redis", nameof(OldVersionGrace), OldVersionGrace, TimeSpan.FromDays(1));
        if (EpochRetention < TimeSpan.FromMinutes(1))
        {
            problems.Add($"Redis EpochRetention must be at least 1 minute; got {EpochRetention}.");
        }

        if (MaxPendingInvalidations is < 1 or > 10_000_000)
        {
            problems.Add($"Redis MaxPendingInvalidations must be between 1 and 10,000,000; got {MaxPendingInvalidations}.");
        }

        if (MaxKeysPerBatch is < 1 or > 10_000)
        {
            problems.Add($"Redis MaxKeysPerBatch must be between 1 and 10,000; got {MaxKeysPerBatch}.");
        }

        if (BreakerFailureThreshold < 1)
        {
            problems.Add($"Redis BreakerFailureThreshold must be at least 1; got {BreakerFailureThreshold}.");
        }
    }

    /// <summary>The key prefix and operation timeout: all that the bus transport alone (<see cref="RedisInvalidation"/>) needs too.</summary>
    internal void ValidateNaming(ICollection<string> problems)
    {
        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Length > 64 || !KeyPrefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
        {
            problems.Add($"Redis key prefix must be 1-64 characters of letters, digits and -_.: ; got '{KeyPrefix}'.");
        }

        ConfigurationValues.CheckDuration(problems, "Redis", nameof(OperationTimeout), OperationTimeout, TimeSpan.FromMinutes(1));
    }
}
