using Coherent.Policies;

namespace Coherent.Tests;

/// <summary>
/// The span-keyed family lookup on the read path: Dictionary's AlternateLookup on net10.0, Compat/SpanLookup on net8.0.
/// The same expectations run against both builds of this project.
/// </summary>
public sealed class FamilyLookupTests
{
    [Fact]
    public void Every_declared_family_resolves_to_itself_among_many()
    {
        // Enough families that several share a bucket, names that differ in one character or only in length.
        var names = Enumerable.Range(0, 300).Select(i => $"f{i}").Concat(["a", "ab", "abc", "b", "ba"]).ToList();
        var registry = new FamilyRegistry(names.Select(Policy), new FamilyPolicyBuilder(), strict: true);

        foreach (var name in names)
        {
            var state = registry.Resolve($"{name}:key:with:colons");
            Assert.Equal(name, state.Name);
            Assert.True(state.Declared);
        }
    }

    [Fact]
    public void A_family_not_declared_is_refused_in_strict_mode_and_tracked_otherwise()
    {
        string[] names = ["price", "stock"];
        var strict = new FamilyRegistry(names.Select(Policy), new FamilyPolicyBuilder(), strict: true);
        Assert.Throws<UndeclaredFamilyException>(() => strict.Resolve("pric:1"));
        Assert.Throws<UndeclaredFamilyException>(() => strict.Resolve("prices:1"));

        var lenient = new FamilyRegistry(names.Select(Policy), new FamilyPolicyBuilder(), strict: false);
        Assert.False(lenient.Resolve("prices:1").Declared);
        Assert.Equal(FamilyRegistry.NoFamily, lenient.Resolve("no-colon").Name);
        Assert.Equal("price", lenient.Resolve("price:1").Name);
    }

    [Fact]
    public void No_declared_families_resolves_every_key_to_an_undeclared_one()
    {
        var registry = new FamilyRegistry([], new FamilyPolicyBuilder(), strict: false);
        Assert.False(registry.Resolve("price:1").Declared);
        Assert.False(registry.Resolve("x").Declared);
    }

    private static FamilyPolicy Policy(string name) =>
        new(name, new FamilyPolicyBuilder().MaxStaleness(TimeSpan.FromSeconds(1)));
}
