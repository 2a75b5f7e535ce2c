namespace Coherent.Memcached;

/// <summary>
/// Epochs are CAS values, and a CAS value only means something on the server that issued it: each server counts on its
/// own, and one restarted empty counts again from 1. So the epoch also names the server that owned the key when it was
/// read and that server's generation (bumped each time it is marked down, which a kill or a restart does): a fill whose
/// key has moved to another server, or whose server went down since, is refused without asking Memcached, instead of
/// being compared with an unrelated counter that might match by chance.
/// </summary>
internal sealed partial class MemcachedTier
{
    private const int CasBits = 44;
    private const int GenerationBits = 8;
    private const ulong CasMask = (1UL << CasBits) - 1;
    private const ulong GenerationMask = (1UL << GenerationBits) - 1;

    private int[]? _generations;

    private int[] Generations => _generations ??= WatchGenerations();

    private int[] WatchGenerations()
    {
        var servers = _store.Cluster.Servers;
        var generations = new int[servers.Count];
        for (var i = 0; i < servers.Count; i++)
        {
            var index = i;
            servers[i].Health.WentDown += () => Interlocked.Increment(ref generations[index]);
        }

        return generations;
    }

    /// <summary>Where the key lives now: the server's index and generation (taken before the request is sent).</summary>
    private (int Server, int Generation) Owner(string key) => Owner(_store.DataKey(key));

    private (int Server, int Generation) Owner(byte[] wireKey)
    {
        var node = _store.Cluster.Route(wireKey);
        var servers = _store.Cluster.Servers;
        for (var i = 0; i < servers.Count; i++)
        {
            if (ReferenceEquals(servers[i], node))
            {
                return (i, Volatile.Read(ref Generations[i]));
            }
        }

        throw new InvalidOperationException("The ring routed to a server the cluster does not list.");
    }

    /// <summary>The epoch of a CAS read from <paramref name="owner"/>; 0 (never fences a store) for a CAS too large to encode.</summary>
    private static long Epoch((int Server, int Generation) owner, ulong cas) =>
        cas is 0 or > CasMask ? 0 : (long)(((ulong)(owner.Server + 1) << (CasBits + GenerationBits)) | (((ulong)owner.Generation & GenerationMask) << CasBits) | cas);

    /// <summary>The CAS an epoch carries, if the key still lives on the server (and generation) it was read from.</summary>
    private bool TryOpen(string key, long epoch, out ulong cas)
    {
        cas = (ulong)epoch & CasMask;
        var server = (int)((ulong)epoch >> (CasBits + GenerationBits)) - 1;
        var generation = ((ulong)epoch >> CasBits) & GenerationMask;
        var owner = Owner(key);
        return cas != 0 && owner.Server == server && ((ulong)owner.Generation & GenerationMask) == generation;
    }
}
