using System.Reflection;
using System.Text.RegularExpressions;
using Coherent.InMemory;
using Coherent.Testing;
using Coherent.Invalidation;
using Coherent.Local;
using Coherent.SharedTier;

namespace Coherent.Tests;

/// <summary>
/// The seam through which tests, the harness and the benchmarks look into the engine (<c>cache.Diagnostics</c>). The cache
/// keeps its L1 store and gate internal only because the flights use them; this keeps tests from reaching around the seam.
/// </summary>
public sealed partial class DiagnosticsSeamTests
{
    [Fact]
    public void Tests_the_harness_and_the_bench_reach_L1_and_the_gate_only_through_the_seam()
    {
        // A member of the L1 store or the gate called through the cache's own Local or Gate accessor:
        // the engine's shape would leak into the test, and a test could write around the gate.
        var members = typeof(L1Store).GetMembers(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            .Concat(typeof(InvalidationGate).GetMembers(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var root = RepositoryRoot.Path;
        var reaches = new[] { "tests", "bench" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(root, d), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: Path.GetRelativePath(root, f), Line: i + 1, Text: line)))
            .Where(l => ReachAround().Matches(l.Text).Any(m => members.Contains(m.Groups["member"].Value)))
            .Select(l => $"{l.File}:{l.Line}: {l.Text.Trim()}")
            .ToList();

        Assert.True(reaches.Count == 0, "use cache.Diagnostics instead:\n" + string.Join('\n', reaches));
    }

    [Fact]
    public async Task Dropping_a_key_from_L1_leaves_it_in_the_shared_tier()
    {
        var hub = new InMemorySharedTierHub();
        await using var cache = new CoherentCacheBuilder().WithTimeProvider(T.Clock()).WithName($"seam-{Guid.NewGuid():N}")
            .Define("item", p => p.MaxStaleness(TimeSpan.FromSeconds(2)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0).NoEarlyRefresh())
            .WithSharedTier(hub.Node()).Build();
        await cache.SetAsync("item:1", "v1", cancellationToken: T.Ct);
        Assert.True(cache.Diagnostics.HasLocal("item:1"));

        Assert.True(cache.Diagnostics.DropLocal("item:1"));

        Assert.False(cache.Diagnostics.HasLocal("item:1"));
        Assert.Equal("v1", await cache.GetOrSetAsync("item:1", _ => T.Value("computed"), cancellationToken: T.Ct)); // an L2 hit
        Assert.True(cache.Diagnostics.HasLocal("item:1"));
    }

    [Fact]
    public async Task Asking_the_seam_for_a_backend_the_cache_does_not_run_on_names_what_it_runs_on()
    {
        await using var single = T.Price(T.Clock()).Build();
        Assert.Null(single.Diagnostics.SharedTier);
        var none = Assert.Throws<InvalidOperationException>(() => single.Diagnostics.SharedTierAs<DistributedCacheTier>());
        Assert.Contains("not configured", none.Message, StringComparison.Ordinal);

        await using var fleet = new CoherentCacheBuilder().WithTimeProvider(T.Clock()).WithName($"seam-{Guid.NewGuid():N}")
            .WithSharedTier(new InMemorySharedTierHub().Node()).Build();
        Assert.NotNull(fleet.Diagnostics.SharedTierAs<ISharedTier>());
        var other = Assert.Throws<InvalidOperationException>(() => fleet.Diagnostics.SharedTierAs<DistributedCacheTier>());
        Assert.Contains(fleet.Diagnostics.SharedTier!.GetType().Name, other.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(DistributedCacheTier), other.Message, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\.(?:Local|Gate)\.(?<member>\w+)")]
    private static partial Regex ReachAround();
}
