using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Store;

/// <summary>
/// A bulk call's leases and stores: requests built by the same builders as their single operations (<see cref="StoreRequest"/>,
/// <see cref="VersionedDataRequest"/>, <see cref="TouchRequest"/>, <see cref="LeaseReadRequest"/>), sent one batch per
/// server, all servers at once, and each answer judged by its single operation's judge — so a batch of one is the single
/// operation, and the rule of each has one home.
/// </summary>
internal sealed partial class MemcachedStore
{
    /// <summary>
    /// Sends <paramref name="requests"/> (one batch per server) and judges each response with <paramref name="judge"/> (given
    /// the request's index). Throws only for a caller's cancellation; every other failure is the answer of the requests it
    /// touched: its server's, or the judge's for a response that does not fit its request.
    /// </summary>
    public async ValueTask<Answer<T>[]> SendEachAsync<T>(MetaRequest[] requests, Func<int, MetaResponse, T> judge, CancellationToken cancellationToken = default)
    {
        var answers = await Cluster.SendPerServerAsync(requests, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var results = new Answer<T>[answers.Length];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = Convert(answers[i], i, judge);
        }

        return results;
    }

    /// <summary>The request of <see cref="ReadAsync"/> for a key's data item (<see cref="DataKey(byte[])"/>).</summary>
    public static MetaRequest LeaseReadRequest(byte[] wireKey, LeaseOptions lease) => ReadRequest(wireKey, lease, quiet: false);

    /// <summary>The answer to a <see cref="LeaseReadRequest"/>, as <see cref="ReadAsync"/> judges it.</summary>
    public static LeaseRead LeaseReadOf(MetaResponse response, byte[] keyUtf8) => ToLeaseRead(response, keyUtf8);
}
