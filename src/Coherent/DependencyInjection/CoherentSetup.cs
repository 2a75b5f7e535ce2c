namespace Coherent.DependencyInjection;

/// <summary>The configure actions collected by every AddCoherentCache call, applied in order when the cache is first resolved.</summary>
internal sealed class CoherentSetup
{
    public List<Action<CoherentCacheBuilder>> Actions { get; } = [];
}
