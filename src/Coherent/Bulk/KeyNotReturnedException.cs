namespace Coherent;

/// <summary>
/// A <c>GetOrSetManyAsync</c> batch factory returned no value for <see cref="Key"/>: nothing is stored for it, and the
/// batch reports it absent. A caller of that key alone who joined the batch's computation gets this exception (or, for
/// a fail-safe family, the key's last value).
/// </summary>
public sealed class KeyNotReturnedException : CoherentException
{
    /// <summary>Creates the exception for <paramref name="key"/>.</summary>
    public KeyNotReturnedException(string key)
        : base($"The batch factory returned no value for '{key}'.") => Key = key;

    /// <summary>The key the factory left out.</summary>
    public string Key { get; }
}
