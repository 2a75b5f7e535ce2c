namespace Coherent.Redis.Storage;

/// <summary>The Lua scripts, loaded once from embedded resources (StackExchange.Redis sends them by SHA after the first call).</summary>
internal static class Scripts
{
    public static readonly string ReadVersioned = Load("read_versioned");
    public static readonly string Store = Load("store");
    public static readonly string Set = Load("set");
    public static readonly string Invalidate = Load("invalidate");
    public static readonly string Bump = Load("bump");
    public static readonly string Lease = Load("lease");
    public static readonly string Epoch = Load("epoch");
    public static readonly string Release = Load("release");

    public static IReadOnlyList<string> All { get; } = [ReadVersioned, Store, Set, Invalidate, Bump, Lease, Epoch, Release];

    private static string Load(string name)
    {
        using var stream = typeof(Scripts).Assembly.GetManifestResourceStream($"Coherent.Redis.Lua.{name}.lua")
            ?? throw new InvalidOperationException($"Embedded script {name}.lua is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
