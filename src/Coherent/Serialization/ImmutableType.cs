using System.ComponentModel;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Coherent.Serialization;

/// <summary>
/// HybridCache's rule for which values every caller may share (decided once per type): a string, a value type with no
/// references in it (each caller gets its own copy of a struct anyway), or a value type or sealed class marked
/// <c>[ImmutableObject(true)]</c>. Anything else — a class that is not sealed (a subclass could be mutable), an
/// interface, an array, a record without the attribute — is mutable, and a cache serving HybridCache gives each caller
/// its own instance of it.
/// </summary>
internal static class ImmutableType<T>
{
    public static readonly bool IsImmutable = Decide();

    private static bool Decide()
    {
        var type = typeof(T);
        if (type == typeof(string) || (type.IsValueType && !RuntimeHelpers.IsReferenceOrContainsReferences<T>()))
        {
            return true;
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        return (type.IsValueType || (type.IsClass && type.IsSealed))
            && type.GetCustomAttribute<ImmutableObjectAttribute>() is { Immutable: true };
    }
}
