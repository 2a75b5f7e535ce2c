namespace Coherent.Lab.Infrastructure;

/// <summary>The lab's use of Coherent.Redis: the embedded server and attaching a node to it.</summary>
internal static class SharedTier
{
    public static Task<(IAsyncDisposable? Server, string? Endpoint, string Description)> StartEmbeddedAsync() =>
        Task.FromResult<(IAsyncDisposable?, string?, string)>((null, null, "no shared tier (embedded Garnet helper not built yet)"));

    /// <summary>Gives the node its own connection to the shared Redis; <paramref name="configure"/> adjusts the tier's options.</summary>
    public static void Attach(CoherentCacheBuilder builder, string endpoint, string nodeName, Action<CoherentRedisOptions>? configure = null) =>
        builder.WithRedis(endpoint, o =>
        {
            o.KeyPrefix = "lab";
            configure?.Invoke(o);
        });
}
