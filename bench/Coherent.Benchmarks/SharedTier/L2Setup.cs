using Coherent.SharedTier;
using Coherent.Policies;
using Coherent.Redis.Storage;
using StackExchange.Redis;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// What the two L2-hit console modes share: a throwaway redis-server; a bare connection with the baseline's JSON under
/// <c>bare:{key}</c>; a Coherent node whose L2 holds the same product; its tier, the key's family and key space; and a
/// memory-only Coherent cache for the engine-without-I/O step.
/// </summary>
internal sealed class L2Setup : IAsyncDisposable
{
    public const string Key = "product:42";

    private L2Setup(RedisProcess server, ConnectionMultiplexer connection, CoherentCache cache, CoherentCache local, string prefix)
    {
        Server = server;
        Connection = connection;
        Db = connection.GetDatabase();
        Cache = cache;
        Local = local;
        Tier = cache.Diagnostics.SharedTier!;
        Family = cache.Families.Resolve(Key);
        Keys = new KeySpace(prefix);
    }

    public RedisProcess Server { get; }

    public ConnectionMultiplexer Connection { get; }

    public IDatabase Db { get; }

    public CoherentCache Cache { get; }

    public CoherentCache Local { get; }

    internal ISharedTier Tier { get; }

    internal FamilyState Family { get; }

    internal KeySpace Keys { get; }

    public byte[] Json { get; } = Product.Utf8(Product.Sample(42));

    /// <summary>The tier's read and deserialization, handed to the caller over a RunContinuationsAsynchronously TCS (as a flight does).</summary>
    public async Task TierReadHandedOverAsync()
    {
        var handover = new TaskCompletionSource<Product>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = Fill(handover); // started inline, like RunFlightAsync
        await handover.Task;

        async Task Fill(TaskCompletionSource<Product> target)
        {
            var read = await Tier.ReadAsync(new Coherent.SharedTier.SharedTierKey(Key, Family.Name), CancellationToken.None);
            target.SetResult(System.Text.Json.JsonSerializer.Deserialize<Product>(read.Entry!.Payload.Span, Product.Json)!);
        }
    }

    public static async Task<L2Setup> StartAsync(string prefix)
    {
        var server = await RedisProcess.StartNewAsync();
        var setup = new L2Setup(server, SharedNodes.Connect(server.Endpoint), SharedNodes.Coherent(server.Endpoint, prefix),
            new CoherentCacheBuilder().Define("product", p => p.MaxStaleness(SharedNodes.Expiry).Ttl(SharedNodes.Expiry).NoEarlyRefresh()).Build(), prefix);
        await setup.Cache.SetAsync(Key, Product.Sample(42));
        await setup.Db.StringSetAsync("bare:" + Key, setup.Json);
        return setup;
    }

    public async ValueTask DisposeAsync()
    {
        await Local.DisposeAsync();
        await Cache.DisposeAsync();
        await Connection.DisposeAsync();
        await Server.DisposeAsync();
    }
}
