using System.IO.Hashing;
using System.Text;

namespace Coherent.Memcached.Cluster;

/// <summary>
/// A ketama-style consistent hash ring: each server gets <see cref="PointsPerWeight"/> points per unit of weight, placed
/// by hashing "host:port-i", so adding or removing a server moves only its own share of the keys. A key goes to the first
/// point at or after its hash; when that server is down, to the next point of a live server (so a dead server's keys
/// spread over the others instead of doubling one neighbour's load, and come back when it is re-admitted).
/// </summary>
internal sealed class HashRing<TServer>
    where TServer : class
{
    public const int PointsPerWeight = 160;

    private readonly uint[] _points;
    private readonly TServer[] _owners;

    public HashRing(IReadOnlyList<(TServer Server, string Name, int Weight)> servers)
    {
        ArgumentOutOfRangeException.ThrowIfZero(servers.Count);
        var points = new List<(uint Point, TServer Owner, string Name)>();
        foreach (var (server, name, weight) in servers)
        {
            for (var i = 0; i < PointsPerWeight * weight; i++)
            {
                points.Add((Hash(Encoding.UTF8.GetBytes($"{name}-{i}")), server, name));
            }
        }

        // Ties (two servers hashing one point) are broken by name, so every client builds the same ring.
        points.Sort((a, b) => a.Point != b.Point ? a.Point.CompareTo(b.Point) : string.CompareOrdinal(a.Name, b.Name));
        _points = points.Select(p => p.Point).ToArray();
        _owners = points.Select(p => p.Owner).ToArray();
        Servers = servers.Select(s => s.Server).ToArray();
    }

    public IReadOnlyList<TServer> Servers { get; }

    public static uint Hash(ReadOnlySpan<byte> key) => (uint)XxHash3.HashToUInt64(key);

    /// <summary>The server of <paramref name="key"/>, skipping servers for which <paramref name="isDown"/> is true; null when all are.</summary>
    public TServer? Locate(ReadOnlySpan<byte> key, Func<TServer, bool> isDown)
    {
        var start = Array.BinarySearch(_points, Hash(key));
        if (start < 0)
        {
            start = ~start;
        }

        TServer? lastTried = null;
        for (var i = 0; i < _owners.Length; i++)
        {
            var owner = _owners[(start + i) % _owners.Length];
            if (ReferenceEquals(owner, lastTried))
            {
                continue;
            }

            if (!isDown(owner))
            {
                return owner;
            }

            lastTried = owner;
        }

        return null;
    }

    /// <summary>The server that owns <paramref name="key"/> when every server is up.</summary>
    public TServer Owner(ReadOnlySpan<byte> key) => Locate(key, static _ => false)!;
}
