using System.IO.Compression;
using System.Xml.Linq;

namespace Coherent.Package.Tests;

/// <summary>What each package in the feed must carry: both targets, the licence, the readme, symbols, one version,
/// and no dependency on Garnet.</summary>
internal static class PackageContents
{
    private static readonly string[] Targets = ["net8.0", "net10.0"];

    /// <summary>Packages no shipped package may depend on (by id prefix).</summary>
    private static readonly string[] ForbiddenDependencies = ["Microsoft.Garnet"];

    /// <summary>Checks every package and returns their common version.</summary>
    public static string CheckAll(string feed, IEnumerable<string> ids)
    {
        var versions = ids.Select(id => Check(feed, id)).Distinct(StringComparer.Ordinal).ToList();
        Assert.Single(versions);
        return versions[0];
    }

    private static string Check(string feed, string id)
    {
        var nupkg = Directory.GetFiles(feed, $"{id}.*.nupkg").Where(f => IsPackageOf(f, id, ".nupkg")).ToList();
        Assert.True(nupkg.Count == 1, $"expected one {id} package in {feed}, found: {string.Join(", ", nupkg.Select(Path.GetFileName))}");
        using var package = ZipFile.OpenRead(nupkg[0]);
        var entries = package.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
        foreach (var required in new[] { "LICENSE", "README.md" }.Concat(Targets.Select(t => $"lib/{t}/{id}.dll")))
        {
            Assert.True(entries.Contains(required), $"{Path.GetFileName(nupkg[0])} lacks {required}; it has: {string.Join(", ", entries)}");
        }

        XNamespace ns;
        XElement metadata;
        using (var nuspec = package.GetEntry($"{id}.nuspec")!.Open())
        {
            var root = XDocument.Load(nuspec).Root!;
            ns = root.Name.Namespace;
            metadata = root.Element(ns + "metadata")!;
        }

        Assert.Equal("MIT", metadata.Element(ns + "license")?.Value);
        Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
        var repository = metadata.Element(ns + "repository");
        Assert.False(string.IsNullOrEmpty(repository?.Attribute("url")?.Value), "the nuspec names no repository url");
        Assert.False(string.IsNullOrEmpty(repository?.Attribute("commit")?.Value), "the nuspec names no commit");

        // An application of Coherent.Redis must not get Garnet (and, through it, the Azure SDK, native libraries and a
        // licence prompt): the embedded server is a project of its own, never packed, never a dependency.
        var dependencies = metadata.Descendants(ns + "dependency").Select(d => d.Attribute("id")?.Value ?? "").ToList();
        var forbidden = dependencies.Where(d => ForbiddenDependencies.Any(f => d.StartsWith(f, StringComparison.OrdinalIgnoreCase))).ToList();
        Assert.True(forbidden.Count == 0, $"{id}'s nuspec depends on {string.Join(", ", forbidden)}");

        var version = metadata.Element(ns + "version")!.Value;
        var symbols = Path.Combine(feed, $"{id}.{version}.snupkg");
        Assert.True(File.Exists(symbols), $"no symbol package {symbols}");
        return version;
    }

    // Coherent.*.nupkg also matches Coherent.Redis.*.nupkg: the part after the id must start with the version's digit.
    private static bool IsPackageOf(string file, string id, string extension)
    {
        var name = Path.GetFileName(file);
        return name.EndsWith(extension, StringComparison.Ordinal) && name.Length > id.Length + 1 && char.IsAsciiDigit(name[id.Length + 1]);
    }
}
