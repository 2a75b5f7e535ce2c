namespace Coherent.Testing;

/// <summary>Key prefixes that keep tests apart on a shared server: each test (or run) its own.</summary>
public static class KeyPrefix
{
    /// <summary><paramref name="tag"/> (a letter naming the suite, for reading a server's keys) and 8 random hex digits.</summary>
    public static string New(string tag) => tag + Guid.NewGuid().ToString("N")[..8];
}
