using System.Text.RegularExpressions;

namespace Coherent.Tests;

/// <summary>
/// Keeps the README's quickstart honest: the snippet is compiled here (inside the region below) and run, and the test
/// fails if the README's code block and this region drift apart.
/// </summary>
public sealed partial class ReadmeQuickstartTests
{
    [Fact]
    public async Task Readme_quickstart_is_the_code_compiled_and_run_here()
    {
        var readme = await File.ReadAllTextAsync(FindReadme());
        var block = QuickstartBlock().Match(readme);
        Assert.True(block.Success, "README.md has no ```csharp quickstart block starting with 'using Coherent;'");
        var source = await File.ReadAllTextAsync(Path.Combine(Path.GetDirectoryName(FindReadme())!, "tests", "Coherent.Tests", "ReadmeQuickstartTests.cs"));
        var region = RegionBlock().Match(source);
        Assert.True(region.Success);
        Assert.Equal(Normalize(block.Groups["code"].Value), Normalize(region.Groups["code"].Value));

        var output = new StringWriter();
        var original = Console.Out;
        Console.SetOut(output);
        try
        {
            Assert.Equal(42.5m, await Quickstart());
        }
        finally
        {
            Console.SetOut(original);
        }

        Assert.Contains("prices must show within 5 s", output.ToString(), StringComparison.Ordinal);
    }

    private static async Task<decimal> Quickstart()
    {
        #region quickstart
        await using var cache = new CoherentCacheBuilder()
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10))
                                   .Reason("prices must show within 5 s: pricing team, 2026-11"))
            .Build();

        decimal price = await cache.GetOrSetAsync("price:42", ct => LoadPriceAsync(42, ct));
        await cache.InvalidateAsync("price:42");      // after the price changed in the database
        Console.WriteLine(cache.DescribePolicies());  // the reviewable policy table
        #endregion
        return price;
    }

    private static ValueTask<decimal> LoadPriceAsync(int id, CancellationToken cancellationToken) => ValueTask.FromResult(id + 0.5m);

    private static string FindReadme()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "README.md");
            if (File.Exists(candidate) && Directory.Exists(Path.Combine(dir.FullName, "src", "Coherent")))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("README.md of the repository not found above " + AppContext.BaseDirectory);
    }

    private static string Normalize(string code) => string.Join("\n", code.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    [GeneratedRegex(@"```csharp\s*using Coherent;\s*(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex QuickstartBlock();

    [GeneratedRegex(@"#region quickstart\s*(?<code>.*?)#endregion", RegexOptions.Singleline)]
    private static partial Regex RegionBlock();
}
