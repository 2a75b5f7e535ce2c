namespace Coherent.Testing;

/// <summary>The repository's root folder (the one holding Coherent.slnx), for tests that read the tree: docs, sources, packages.</summary>
public static class RepositoryRoot
{
    /// <summary>The first folder above the test's binaries that holds Coherent.slnx.</summary>
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Coherent.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Coherent.slnx above {AppContext.BaseDirectory}");
    }
}
