using System.Collections.Concurrent;
#if NET9_0_OR_GREATER
using SpanKeyedFamilies = System.Collections.Generic.Dictionary<string, Coherent.Policies.FamilyState>.AlternateLookup<System.ReadOnlySpan<char>>;
#else
using SpanKeyedFamilies = Coherent.Compat.SpanLookup<Coherent.Policies.FamilyState>;
#endif

namespace Coherent.Policies;

/// <summary>Maps a key to its family's state. Lookups are allocation-free (span-keyed) for declared families.</summary>
internal sealed class FamilyRegistry
{
    private readonly Dictionary<string, FamilyState> _declared;
    private readonly SpanKeyedFamilies _lookup;
    private readonly ConcurrentDictionary<string, FamilyState> _undeclared = new(StringComparer.Ordinal);
    private readonly FamilyPolicyBuilder _defaultPolicy;

    public FamilyRegistry(IEnumerable<FamilyPolicy> declared, FamilyPolicyBuilder defaultPolicy, bool strict)
    {
        _declared = declared.ToDictionary(p => p.Family, p => new FamilyState(p, declared: true), StringComparer.Ordinal);
#if NET9_0_OR_GREATER
        _lookup = _declared.GetAlternateLookup<ReadOnlySpan<char>>();
#else
        _lookup = new(_declared);
#endif
        _defaultPolicy = defaultPolicy;
        Strict = strict;
    }

    /// <summary>Name under which keys without a ':' are counted.</summary>
    public const string NoFamily = "(none)";

    /// <summary>Name under which undeclared families past <see cref="MaxTrackedUndeclared"/> are counted.</summary>
    public const string OtherFamilies = "(other)";

    public const int MaxTrackedUndeclared = 256;

    public bool Strict { get; }

    public IEnumerable<FamilyState> Declared => _declared.Values;

    /// <summary>Declared families first, then the undeclared families seen so far (non-strict mode).</summary>
    public IEnumerable<FamilyState> All => _declared.Values.Concat(_undeclared.Values);

    public static ReadOnlySpan<char> FamilyOf(string key)
    {
        // A key without ':' names no family; it gets the default policy (or is refused in strict mode).
        var colon = key.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? ReadOnlySpan<char>.Empty : key.AsSpan(0, colon);
    }

    public static bool IsValidFamilyName(string name)
    {
        if (name.Length is 0 or > 64)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (c == ':' || char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }

    public FamilyState Resolve(string key)
    {
        var family = FamilyOf(key);
        if (_lookup.TryGetValue(family, out var state))
        {
            return state;
        }

        if (Strict)
        {
            throw new UndeclaredFamilyException(family.ToString(), key);
        }

        // Undeclared families are tracked one by one for the advisor, up to a cap: arbitrary prefixes must not grow memory.
        var name = family.IsEmpty ? NoFamily : family.ToString();
        if (_undeclared.TryGetValue(name, out state))
        {
            return state;
        }

        if (_undeclared.Count >= MaxTrackedUndeclared)
        {
            name = OtherFamilies;
        }

        return _undeclared.GetOrAdd(name, static (n, b) => new FamilyState(new FamilyPolicy(n, b), declared: false), _defaultPolicy);
    }

    public FamilyState? Find(string family) =>
        _declared.TryGetValue(family, out var s) ? s : _undeclared.TryGetValue(family, out s) ? s : null;
}
