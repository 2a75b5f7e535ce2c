namespace Coherent;

/// <summary>Base type of every exception Coherent throws on purpose.</summary>
public class CoherentException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public CoherentException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    public CoherentException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with no message (prefer the other constructors).</summary>
    public CoherentException() { }
}

/// <summary>
/// The builder's options or a family policy are invalid. <see cref="Problems"/> lists every problem found,
/// not just the first, so one build attempt shows everything to fix.
/// </summary>
public sealed class CoherentConfigurationException : CoherentException
{
    /// <summary>Creates the exception from the list of problems.</summary>
    public CoherentConfigurationException(IReadOnlyList<string> problems)
        : base("Coherent configuration is invalid:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => " - " + p)))
        => Problems = problems;

    /// <summary>Creates the exception with one problem.</summary>
    public CoherentConfigurationException(string message) : this([message]) { }

    /// <summary>Creates the exception with no listed problem (prefer the other constructors).</summary>
    public CoherentConfigurationException() : this(Array.Empty<string>()) { }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public CoherentConfigurationException(string message, Exception? innerException) : base(message, innerException) => Problems = [message];

    /// <summary>Every problem found, one sentence each.</summary>
    public IReadOnlyList<string> Problems { get; } = [];
}

/// <summary>In strict mode, a key was used whose family has no declared policy.</summary>
public sealed class UndeclaredFamilyException : CoherentException
{
    /// <summary>Creates the exception for a family and the key that named it.</summary>
    public UndeclaredFamilyException(string family, string key)
        : base(family.Length == 0
            ? $"Key '{Truncate(key)}' names no family (it has no '<family>:' prefix), and the cache is in strict mode, which only accepts keys of declared families."
            : $"Key '{Truncate(key)}' belongs to family '{family}', which has no declared policy, and the cache is in strict mode. Declare it with Define(\"{family}\", ...) or in configuration under Coherent:Families:{family}.")
    {
        Family = family;
        Key = key;
    }

    /// <summary>Creates the exception with no details (prefer the other constructors).</summary>
    public UndeclaredFamilyException() { Family = ""; Key = ""; }

    /// <summary>Creates the exception with a message.</summary>
    public UndeclaredFamilyException(string message) : base(message) { Family = ""; Key = ""; }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public UndeclaredFamilyException(string message, Exception? innerException) : base(message, innerException) { Family = ""; Key = ""; }

    /// <summary>The family that has no policy.</summary>
    public string Family { get; }

    /// <summary>The key that was used.</summary>
    public string Key { get; }

    internal static string Truncate(string key) => key.Length <= 80 ? key : string.Concat(key.AsSpan(0, 77), "...");
}

/// <summary>A factory did not finish within its policy's hard timeout and no fail-safe value could be served.</summary>
public sealed class FactoryTimeoutException : CoherentException
{
    /// <summary>Creates the exception for a key and the timeout that elapsed.</summary>
    public FactoryTimeoutException(string key, TimeSpan timeout)
        : base($"The factory for key '{UndeclaredFamilyException.Truncate(key)}' did not complete within its hard timeout of {timeout}.") => Timeout = timeout;

    /// <summary>Creates the exception with no details (prefer the other constructors).</summary>
    public FactoryTimeoutException() { }

    /// <summary>Creates the exception with a message.</summary>
    public FactoryTimeoutException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public FactoryTimeoutException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>The hard timeout that elapsed.</summary>
    public TimeSpan Timeout { get; }
}

/// <summary>A value could not be serialized or deserialized by the family's serializer.</summary>
public sealed class CacheSerializationException : CoherentException
{
    /// <summary>Creates the exception with a message and the serializer's own exception.</summary>
    public CacheSerializationException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a message.</summary>
    public CacheSerializationException(string message) : base(message) { }

    /// <summary>Creates the exception with no message (prefer the other constructors).</summary>
    public CacheSerializationException() { }
}

/// <summary>A serialized value is larger than the configured payload limit; it was not stored.</summary>
public sealed class PayloadTooLargeException : CoherentException
{
    /// <summary>Creates the exception for a key, the payload's size and the limit.</summary>
    public PayloadTooLargeException(string key, long size, long limit)
        : base($"The value for key '{UndeclaredFamilyException.Truncate(key)}' serializes to {size} bytes, over the payload limit of {limit} bytes; it was not stored.")
    {
        Size = size;
        Limit = limit;
    }

    /// <summary>Creates the exception with no details (prefer the other constructors).</summary>
    public PayloadTooLargeException() { }

    /// <summary>Creates the exception with a message.</summary>
    public PayloadTooLargeException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public PayloadTooLargeException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>The serialized size in bytes.</summary>
    public long Size { get; }

    /// <summary>The limit in bytes.</summary>
    public long Limit { get; }
}

/// <summary>
/// An invalidation (or write-through) could not be applied to the shared tier. The local node already dropped
/// the key; the invalidation keeps being retried in the background until it lands, and until then other nodes
/// may serve the old value up to the family's <c>Ttl</c>.
/// </summary>
public sealed class InvalidationFailedException : CoherentException
{
    /// <summary>Creates the exception with a message and the cause.</summary>
    public InvalidationFailedException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a message.</summary>
    public InvalidationFailedException(string message) : base(message) { }

    /// <summary>Creates the exception with no message (prefer the other constructors).</summary>
    public InvalidationFailedException() { }
}
