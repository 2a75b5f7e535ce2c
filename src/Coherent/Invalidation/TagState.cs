namespace Coherent.Invalidation;

/// <summary>A tag's local version: bumped by every invalidation of the tag, compared against each tagged entry's stamp.</summary>
internal sealed class TagState(string name)
{
    public string Name { get; } = name;

    /// <summary>Read with <see cref="Volatile"/>; bumped with <see cref="Interlocked"/>.</summary>
    public long Version;
}
