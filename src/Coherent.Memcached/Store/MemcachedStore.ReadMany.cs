using Coherent.Memcached.Cluster;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Store;

/// <summary>
/// A bulk read's first step: many entries (as <see cref="ReadAsync"/>) and the version counters they are judged with (as
/// <see cref="ReadVersionAsync"/>), every request for one server in one batch, all servers at once — one round trip, and
/// one deadline per server. Unlike <see cref="ReadWithVersionsAsync(byte[], byte[], LeaseOptions, IReadOnlyList{VersionKey}, CancellationToken)"/>
/// nothing fails the whole call: each entry and counter comes back with its value or its own server's failure.
/// </summary>
internal sealed partial class MemcachedStore
{
    /// <summary>
    /// Reads the entries (their UTF-8 keys and data wire keys, <see cref="DataKey(byte[])"/>) and the counters. Throws only
    /// for a caller's cancellation; every other failure is the answer of the entries and counters it touched.
    /// </summary>
    public async ValueTask<(Answer<LeaseRead>[] Entries, Answer<ulong>[] Versions)> ReadManyWithVersionsAsync(
        IReadOnlyList<(byte[] KeyUtf8, byte[] WireKey)> entries, LeaseOptions lease, IReadOnlyList<VersionKey> versions, CancellationToken cancellationToken = default)
    {
        var requests = new MetaRequest[entries.Count + versions.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            requests[i] = ReadRequest(entries[i].WireKey, lease, quiet: false);
        }

        for (var i = 0; i < versions.Count; i++)
        {
            requests[entries.Count + i] = VersionRequest(versions[i], bump: false);
        }

        var answers = await Cluster.SendPerServerAsync(requests, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var reads = new Answer<LeaseRead>[entries.Count];
        Func<int, MetaResponse, LeaseRead> entry = (i, response) => ToLeaseRead(response, entries[i].KeyUtf8);
        for (var i = 0; i < reads.Length; i++)
        {
            reads[i] = Convert(answers[i], i, entry);
        }

        var values = new Answer<ulong>[versions.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Convert(answers[entries.Count + i], i, static (_, response) => ParseCounter(response));
        }

        return (reads, values);
    }

    /// <summary>A response made into its value; a server's failure, or a response that does not fit the request, as the answer's failure.</summary>
    private static Answer<T> Convert<T>(ServerAnswer answer, int index, Func<int, MetaResponse, T> convert)
    {
        if (answer.Failure is { } failure)
        {
            return new Answer<T>(default!, failure);
        }

        try
        {
            return new Answer<T>(convert(index, answer.Response!), null);
        }
        catch (ProtocolDesyncException ex)
        {
            return new Answer<T>(default!, ex);
        }
    }
}

/// <summary>One item of a bulk read: its value, or (<see cref="Failure"/> set) why it has none.</summary>
internal readonly record struct Answer<T>(T Value, Exception? Failure);
