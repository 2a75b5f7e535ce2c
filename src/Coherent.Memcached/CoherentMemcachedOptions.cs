using Coherent.SharedTier;
using System.Globalization;
using Coherent.Memcached.Connections;

namespace Coherent;

/// <summary>
/// Settings of the Memcached shared tier: which servers, how long to wait for them, how many connections, and the key
/// prefix and signing key as for Redis. Validated once when the cache is built; every problem is listed in one
/// <see cref="CoherentConfigurationException"/>.
/// </summary>
public sealed class CoherentMemcachedOptions
{
    /// <summary>
    /// The servers, <c>host:port[,host:port…]</c>; a server may carry a weight on the ring as <c>host:port=2</c> (default 1).
    /// Keys are spread over them by consistent hashing. IPv6 hosts go in brackets: <c>[::1]:11211</c>.
    /// </summary>
    public string Servers { get; set; } = "";

    /// <summary>
    /// Prefix of every Memcached key, one per application, so two applications sharing servers never see each other's
    /// entries. Letters, digits and <c>-_.:</c> only, at most 64 characters. Default <c>coherent</c>.
    /// </summary>
    public string KeyPrefix { get; set; } = "coherent";

    /// <summary>
    /// Largest item (full key, framing and payload) stored, in bytes; larger values are refused before anything is sent
    /// (<see cref="PayloadTooLargeException"/>). Null: the smallest <c>item_size_max</c> the servers report in
    /// <c>stats settings</c>, or 1 MB (Memcached's default) when none answers at start.
    /// </summary>
    public long? MaxItemBytes { get; set; }

    /// <summary>
    /// Optional shared secret (at least 16 bytes) for HMAC-SHA256 signing of entries, as for Redis: entries not signed with
    /// it are refused (a counted miss), never deserialized. Every node of the application must use the same secret.
    /// </summary>
    public byte[]? SigningKey { get; set; }

    /// <summary>Deadline of every Memcached call. A call never waits longer (plus a tenth for the deadline sweep). Default 500 ms.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Connect timeout of a new connection. Default 2 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Connections per server. Each carries many concurrent requests (pipelined), so a few suffice. Default 2.</summary>
    public int PoolSize { get; set; } = 2;

    /// <summary>Consecutive failed calls (timeouts, lost connections) after which a server is marked down and its keys move to the next server. Default 3.</summary>
    public int BreakerFailureThreshold { get; set; } = 3;

    /// <summary>How often a server marked down is probed; it is re-admitted when a probe answers. Default 1 s.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether a re-admitted server is emptied (<c>flush_all</c>) first. While it was out, writes and invalidations of its
    /// keys went to other servers, so what it still holds may be stale; keep this on unless every writer is sure to have
    /// seen the same outage. Default true.
    /// </summary>
    public bool FlushOnReadmit { get; set; } = true;

    /// <summary>How often invalidations that could not reach Memcached are retried (they are queued, as on Redis). Default 1 s.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Most invalidations waiting for a retry; one more collapses the queue into one clear of the whole cache (which voids
    /// everything they would have voided). Default 10,000.
    /// </summary>
    public int MaxPendingInvalidations { get; set; } = 10_000;

    /// <summary>
    /// Most keys in one pipelined batch to a server during a bulk call (its reads, lease reads, touches, stores): a server's
    /// share over this is split into batches of at most this many, sent together, never refused, each with its own
    /// deadline. Between 1 and 10,000. Default 256.
    /// </summary>
    public int MaxKeysPerBatch { get; set; } = 256;

    /// <summary>
    /// The invalidation bus's wire, lent by another backend (Memcached has no pub/sub), e.g.
    /// <c>RedisInvalidation.CreateTransport(connection, "myapp")</c> from Coherent.Redis. Null (the default): no bus, and
    /// every L1 copy lives at most its family's MaxStaleness. Set: the tier runs the core's invalidation bus over it and
    /// announces each invalidation, write-through, tag bump and clear after it lands in Memcached, so L1 copies live as
    /// long as on Redis while heartbeats confirm them. The announcement is not atomic with the write: a node that dies
    /// between the two leaves other nodes' L1 copies until they expire (up to their family's Ttl). Every node of the
    /// application must use the same transport settings; one transport per cache.
    /// </summary>
    public IInvalidationTransport? InvalidationTransport { get; set; }

    /// <summary>How often the bus (with <see cref="InvalidationTransport"/>) publishes this node's heartbeat. Default 250 ms; keep each family's MaxStaleness at least 4 times it.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Families stored as versioned keys, as on Redis: the key's item holds a pointer to its current version (<c>product:42</c>
    /// → version 8) and the value lives under the version's own item. A write stores the new version first and then moves
    /// the pointer (fenced by the pointer's CAS for a fill), so a reader never sees a half-written value; the superseded
    /// version stays readable for <see cref="OldVersionGrace"/>. A hit costs a second round trip (pointer, then version).
    /// Each name must be a family declared on the cache (<c>Define</c>).
    /// </summary>
    public ISet<string> VersionedFamilies { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>How long a superseded version of a versioned key stays readable. Default 10 s.</summary>
    public TimeSpan OldVersionGrace { get; set; } = TimeSpan.FromSeconds(10);

    internal void Validate(ICollection<string> problems)
    {
        ParseServers(Servers, problems);
        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Length > 64 || !KeyPrefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
        {
            problems.Add($"Memcached key prefix must be 1-64 characters of letters, digits and -_.: ; got '{KeyPrefix}'.");
        }

        if (MaxItemBytes is < 1024 or > 1024L * 1024 * 1024)
        {
            problems.Add($"Memcached MaxItemBytes must be between 1 KB and 1 GB; got {MaxItemBytes}.");
        }

        if (SigningKey is { Length: < 16 })
        {
            problems.Add($"Memcached signing key must be at least 16 bytes; got {SigningKey.Length}.");
        }

        ConfigurationValues.CheckDuration(problems, "Memcached", nameof(OperationTimeout), OperationTimeout, TimeSpan.FromMinutes(1));
        ConfigurationValues.CheckDuration(problems, "Memcached", nameof(ConnectTimeout), ConnectTimeout, TimeSpan.FromMinutes(5));
        ConfigurationValues.CheckDuration(problems, "Memcached", nameof(ProbeInterval), ProbeInterval, TimeSpan.FromMinutes(10));
        ConfigurationValues.CheckDuration(problems, "Memcached", nameof(RetryInterval), RetryInterval, TimeSpan.FromMinutes(10));
        ConfigurationValues.CheckDuration(problems, "Memcached", nameof(HeartbeatInterval), HeartbeatInterval, TimeSpan.FromMinutes(1));
        ConfigurationValues.CheckDuration(problems, "Memcached", nameof(OldVersionGrace), OldVersionGrace, TimeSpan.FromDays(1));
        if (InvalidationTransport is { } transport && Memcached.MemcachedTier.IsClaimed(transport))
        {
            problems.Add("Memcached InvalidationTransport is already used by another cache: give each cache its own transport.");
        }
        if (MaxKeysPerBatch is < 1 or > 10_000)
        {
            problems.Add($"Memcached MaxKeysPerBatch must be between 1 and 10,000; got {MaxKeysPerBatch}.");
        }

        if (MaxPendingInvalidations is < 1 or > 10_000_000)
        {
            problems.Add($"Memcached MaxPendingInvalidations must be between 1 and 10,000,000; got {MaxPendingInvalidations}.");
        }

        if (PoolSize is < 1 or > 64)
        {
            problems.Add($"Memcached PoolSize must be between 1 and 64; got {PoolSize}.");
        }

        if (BreakerFailureThreshold < 1)
        {
            problems.Add($"Memcached BreakerFailureThreshold must be at least 1; got {BreakerFailureThreshold}.");
        }
    }

    /// <summary>Validates and throws one exception listing every problem.</summary>
    internal void ValidateOrThrow()
    {
        var problems = new List<string>();
        Validate(problems);
        if (problems.Count > 0)
        {
            throw new CoherentConfigurationException(problems);
        }
    }

    /// <summary>The server list as addresses; each malformed entry adds a problem naming it.</summary>
    internal static List<ServerAddress> ParseServers(string? servers, ICollection<string> problems)
    {
        var result = new List<ServerAddress>();
        if (string.IsNullOrWhiteSpace(servers))
        {
            problems.Add("Memcached Servers is empty; give host:port[,host:port…].");
            return result;
        }

        foreach (var raw in servers.Split(',', StringSplitOptions.TrimEntries))
        {
            if (TryParseServer(raw, out var address, out var problem))
            {
                if (result.Any(a => a.ToString() == address!.ToString()))
                {
                    problems.Add($"Memcached server '{raw}' is listed twice.");
                }

                result.Add(address!);
            }
            else
            {
                problems.Add($"Memcached server '{raw}' is not host:port[=weight]: {problem}");
            }
        }

        return result;
    }

    private static bool TryParseServer(string raw, out ServerAddress? address, out string problem)
    {
        address = null;
        var weight = 1;
        var text = raw;
        var equals = text.LastIndexOf('=');
        if (equals >= 0)
        {
            if (!int.TryParse(text.AsSpan(equals + 1), NumberStyles.None, CultureInfo.InvariantCulture, out weight) || weight is < 1 or > 100)
            {
                problem = "the weight must be a whole number from 1 to 100.";
                return false;
            }

            text = text[..equals];
        }

        string host;
        string port;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                problem = "an IPv6 host is written [address]:port.";
                return false;
            }

            host = text[1..close];
            port = text[(close + 2)..];
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                problem = "expected exactly one ':' between host and port.";
                return false;
            }

            host = text[..colon];
            port = text[(colon + 1)..];
        }

        if (host.Length == 0 || host.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            problem = "the host is empty or contains spaces or control characters.";
            return false;
        }

        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var portNumber) || portNumber is < 1 or > 65535)
        {
            problem = $"the port '{port}' is not a number from 1 to 65535.";
            return false;
        }

        address = new ServerAddress(host, portNumber, weight);
        problem = "";
        return true;
    }
}
