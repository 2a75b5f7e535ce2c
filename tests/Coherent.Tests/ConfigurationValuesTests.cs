using Coherent.SharedTier;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coherent.Tests;

/// <summary>The backend configuration conventions that live in the core (one home for Redis and Memcached).</summary>
public sealed class ConfigurationValuesTests
{
    private static IConfigurationSection Section(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build().GetSection("Backend");

    private static SharedTierContext Context(params string[] families) =>
        new("default", false, null, null, TimeProvider.System, NullLoggerFactory.Instance, 1024,
            families.Select(f => new SharedTierFamily(f, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1))).ToArray());

    [Fact]
    public void Names_are_read_from_a_list_or_one_comma_separated_value_trimmed_and_without_empties()
    {
        Assert.Equal(["a", "b"], ConfigurationValues.ReadNames(Section(("Backend:Families:0", "a"), ("Backend:Families:1", " b ")), "Families"));
        Assert.Equal(["a", "b"], ConfigurationValues.ReadNames(Section(("Backend:Families", "a, ,b,")), "Families"));
        Assert.Empty(ConfigurationValues.ReadNames(Section(("Backend:Other", "x")), "Families"));
    }

    [Fact]
    public void A_family_not_declared_on_the_cache_is_a_problem_naming_the_backend_the_family_and_the_setting()
    {
        var problems = new List<string>();
        ConfigurationValues.CheckDeclaredFamilies(problems, "Memcached", "VersionedFamilies", ["product", "prodcut", SharedTierFamily.DefaultName], Context("product", SharedTierFamily.DefaultName));

        // The default family is not a declared one: keys of no family resolve per node, so it is refused like a typo.
        Assert.Equal(
            [
                "Memcached: versioned family 'prodcut' is not declared on the cache: declare it (Define(\"prodcut\", ...)) or remove it from VersionedFamilies.",
                $"Memcached: versioned family '{SharedTierFamily.DefaultName}' is not declared on the cache: declare it (Define(\"{SharedTierFamily.DefaultName}\", ...)) or remove it from VersionedFamilies.",
            ],
            problems);
    }
}
