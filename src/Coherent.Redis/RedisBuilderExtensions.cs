namespace Coherent;

/// <summary>Adds the Redis shared tier to a <see cref="CoherentCacheBuilder"/>.</summary>
public static class RedisBuilderExtensions
{
}
