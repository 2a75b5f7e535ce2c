using System.Net;
using System.Text;
using Coherent.Memcached.Connections;
using Coherent.Memcached.Protocol;
using Coherent.Memcached.Store;

namespace Coherent.Memcached.Tests.Infrastructure;

/// <summary>Builds clients on test servers: a bare connection (protocol tests) or a store over one or more servers.</summary>
internal static class Clients
{
    public static Task<MemcachedConnection> ConnectAsync(MemcachedProcess server, TimeSpan? timeout = null) =>
        MemcachedConnection.ConnectAsync(
            new IPEndPoint(IPAddress.Loopback, server.Port), server.Endpoint, TimeSpan.FromSeconds(2), timeout ?? TimeSpan.FromSeconds(5),
            1024L * 1024 * 1024, TimeProvider.System, CancellationToken.None);

    public static Task<MemcachedStore> StoreAsync(MemcachedProcess server, Action<CoherentMemcachedOptions>? configure = null) =>
        StoreAsync([server], configure);

    public static Task<MemcachedStore> StoreAsync(IEnumerable<MemcachedProcess> servers, Action<CoherentMemcachedOptions>? configure = null)
    {
        var options = new CoherentMemcachedOptions { Servers = string.Join(",", servers.Select(s => s.Endpoint)), OperationTimeout = TimeSpan.FromSeconds(5) };
        configure?.Invoke(options);
        return MemcachedStore.CreateAsync(options);
    }

    /// <summary>The wire form of a raw key.</summary>
    public static byte[] Key(string raw) => MemcachedKey.ToBase64(Encoding.UTF8.GetBytes(raw));

    public static MetaRequest Get(byte[] key, MetaRequestFlags extra = MetaRequestFlags.None) =>
        new(MetaVerb.Get, key, MetaRequestFlags.ReturnValue | MetaRequestFlags.ReturnCas | extra);

    public static MetaRequest Set(byte[] key, string value, MetaRequestFlags extra = MetaRequestFlags.None, ulong cas = 0) =>
        new(MetaVerb.Set, key, MetaRequestFlags.SetTtl | extra, Encoding.UTF8.GetBytes(value), Cas: cas, Ttl: 300);

    public static string Text(MetaResponse response) => Encoding.UTF8.GetString(response.Value ?? []);

    public static string Text(ReadOnlyMemory<byte>? payload) => payload is { } p ? Encoding.UTF8.GetString(p.Span) : "<none>";

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
}
