using System.Runtime.InteropServices;
using System.Security;
using System.Text.RegularExpressions;

namespace Coherent.Package.Tests;

/// <summary>
/// The proof that the packages work: packs the shipped libraries into a folder feed, then, outside the repository, builds
/// a new console app that references them by package and holds the README's quickstart, and runs it on both targets.
/// </summary>
public sealed partial class PackageConsumerTests(ITestOutputHelper output)
{
    // The projects an application installs (Directory.Build.props: IsShippedLibrary).
    private static readonly string[] Shipped = ["Coherent", "Coherent.Redis", "Coherent.InMemory", "Coherent.Memcached", "Coherent.OpenTelemetry", "Coherent.AspNetCore", "Coherent.Serialization.MessagePack"];

    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(8);
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(6);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(8);

    [Fact]
    public void Packed_libraries_build_and_run_the_readme_quickstart_in_a_new_app()
    {
        var repo = RepositoryRoot.Path;
        var work = Directory.CreateTempSubdirectory("coherent-package-test-");
        try
        {
            var feed = work.CreateSubdirectory("feed").FullName;
            var cli = new DotnetCli(output);
            // Its own obj/ and bin/ (see Directory.Build.props), so packing never races a build of the same tree.
            cli.Environment["COHERENT_BUILD_SLOT"] = "package-test";
            foreach (var project in Shipped)
            {
                cli.Run(repo, PackTimeout, "pack", Path.Combine(repo, "src", project, project + ".csproj"), "-c", "Release", "-o", feed);
            }

            var version = PackageContents.CheckAll(feed, Shipped);
            output.WriteLine($"packed {string.Join(", ", Shipped)} {version}");

            var app = work.CreateSubdirectory("app").FullName;
            Assert.False(app.StartsWith(repo, StringComparison.Ordinal), "the app must not see the repository's Directory.*.props");
            WriteApp(app, feed, version, Quickstart(repo), work.FullName);

            var appCli = new DotnetCli(output);
            appCli.Run(app, BuildTimeout, "build", "-c", "Release");
            foreach (var framework in new[] { "net10.0", "net8.0" })
            {
                var printed = appCli.Run(app, RunTimeout, "run", "--no-build", "-c", "Release", "-f", framework);
                Assert.Contains("Coherent policies", printed, StringComparison.Ordinal);
                Assert.Matches(PriceRow(), printed);
                Assert.Contains($"runtime {(framework == "net8.0" ? "8." : "10.")}", printed, StringComparison.Ordinal);
            }

            // Trimmed, with both libraries kept whole (TrimmerRootAssembly), so the trimmer reads all of their code and
            // not only the part the quickstart reaches.
            var trimmed = Path.Combine(work.FullName, "trimmed");
            var published = appCli.Run(app, PublishTimeout, "publish", "-c", "Release", "-f", "net10.0",
                "-r", RuntimeInformation.RuntimeIdentifier, "-p:PublishTrimmed=true", "-p:TrimmerSingleWarn=false", "-o", trimmed);
            var warnings = TrimWarning().Matches(published).Select(m => m.Value).ToList();
            var ours = warnings
                .Where(w => w.Contains(": Coherent.", StringComparison.Ordinal) || w.Contains("'Coherent", StringComparison.Ordinal))
                .Distinct(StringComparer.Ordinal).ToList();
            Assert.True(ours.Count == 0, "trimming warnings in Coherent's assemblies:\n" + string.Join('\n', ours));
            output.WriteLine($"trimmed: {warnings.Count} trimming warnings, none in Coherent's assemblies");
            var trimmedRun = appCli.RunProgram(Path.Combine(trimmed, "App"), app, RunTimeout);
            Assert.Matches(PriceRow(), trimmedRun);
        }
        finally
        {
            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException e)
            {
                output.WriteLine($"could not remove {work.FullName}: {e.Message}");
            }
        }
    }

    /// <summary>The README's quickstart, exactly as a reader copies it, so a change to the README is tested here.</summary>
    private static string Quickstart(string repo)
    {
        var readme = File.ReadAllText(Path.Combine(repo, "README.md"));
        var match = QuickstartBlock().Match(readme);
        Assert.True(match.Success, "README.md has no ```csharp block under \"## Quickstart\"");
        return match.Groups["code"].Value;
    }

    private static void WriteApp(string app, string feed, string version, string quickstart, string work)
    {
        // The machine's package folder serves the dependencies without a download; the packages under test are
        // extracted into a folder of this run only, so a package packed earlier under the same version is never used.
        var machinePackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set
            ? set
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Xml(Path.Combine(work, "packages"))}" />
              </config>
              <packageSources>
                <add key="coherent-under-test" value="{Xml(feed)}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="machine" value="{Xml(machinePackages)}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        // Empty ones end MSBuild's and NuGet's search upwards: nothing above the temp folder may shape this app.
        foreach (var stop in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
        {
            File.WriteAllText(Path.Combine(app, stop), "<Project />\n");
        }

        // net8.0 brings its own runtime (the machines have only .NET 10's), as the core's tests do.
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFrameworks>net8.0;net10.0</TargetFrameworks>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <PropertyGroup Condition="'$(TargetFramework)' == 'net8.0'">
                <RuntimeIdentifier>{RuntimeInformation.RuntimeIdentifier}</RuntimeIdentifier>
                <SelfContained>true</SelfContained>
              </PropertyGroup>
              <ItemGroup Condition="'$(PublishTrimmed)' == 'true'">
                <TrimmerRootAssembly Include="Coherent" />
                <TrimmerRootAssembly Include="Coherent.Redis" />
              </ItemGroup>
              <ItemGroup>
                <PackageReference Include="Coherent" Version="[{version}]" />
                <PackageReference Include="Coherent.Redis" Version="[{version}]" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), quickstart + """

            Console.WriteLine($"runtime {Environment.Version}");

            static ValueTask<decimal> LoadPriceAsync(int id, CancellationToken cancellationToken) => ValueTask.FromResult(id + 0.5m);
            """);
    }

    private static string Xml(string text) => SecurityElement.Escape(text);

    [GeneratedRegex(@"^## Quickstart\s*```csharp\r?\n(?<code>.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex QuickstartBlock();

    // One trimming warning: "<file>(line,col): Trim analysis warning IL2026: Namespace.Type.Member(...): text".
    [GeneratedRegex(@"warning IL\d{4}:.*$", RegexOptions.Multiline)]
    private static partial Regex TrimWarning();

    // The quickstart's family in the policy table: max-staleness 5s, ttl 10m.
    [GeneratedRegex(@"^price\s+5s\s+10m\s", RegexOptions.Multiline)]
    private static partial Regex PriceRow();
}
