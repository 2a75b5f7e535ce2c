using System.Text.RegularExpressions;

namespace Coherent.Extensions.Tests;

/// <summary>Compares a code block of a document with the region of a test that compiles and runs it, so the two cannot drift.</summary>
internal static class DocumentedCode
{
    public static string Read(params string[] pathFromRoot) => File.ReadAllText(Path.Combine([RepositoryRoot.Path, .. pathFromRoot]));

    /// <summary>The non-empty lines of a region <c>#region name</c> … <c>#endregion</c> of a file in this project, trimmed.</summary>
    public static List<string> Region(string file, string name)
    {
        var match = Regex.Match(Read("tests", "Coherent.Extensions.Tests", file), $@"#region {Regex.Escape(name)}\s*(?<code>.*?)#endregion", RegexOptions.Singleline);
        Assert.True(match.Success, $"{file} has no region {name}");
        return Lines(match.Groups["code"].Value);
    }

    /// <summary>The non-empty lines of the first ```csharp block after a heading that starts with <paramref name="heading"/>, trimmed.</summary>
    public static List<string> BlockAfter(string document, string heading)
    {
        var match = Regex.Match(Read(document.Split('/')), $@"^{Regex.Escape(heading)}[^\n]*\n.*?```csharp\r?\n(?<code>.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline);
        Assert.True(match.Success, $"{document} has no ```csharp block under a heading starting '{heading}'");
        return Lines(match.Groups["code"].Value);
    }

    private static List<string> Lines(string code) => [.. code.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)];
}
