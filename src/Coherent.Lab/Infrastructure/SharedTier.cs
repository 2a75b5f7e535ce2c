namespace Coherent.Lab.Infrastructure;

/// <summary>The lab's use of Coherent.Redis: the embedded server and attaching a node to it.</summary>
internal static class SharedTier
{
    public static Task<(IAsyncDisposable? Server, string? Endpoint, string Description)> StartEmbeddedAsync() =>
        Task.FromResult<(IAsyncDisposable?, string?, string)>((null, null, "no shared tier (Coherent.Redis not built yet)"));

    public static void Attach(CoherentCacheBuilder builder, string endpoint, string nodeName) =>
        throw new NotSupportedException("The shared tier is not available in this build.");
}
