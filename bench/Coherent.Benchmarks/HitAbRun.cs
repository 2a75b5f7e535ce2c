using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;

namespace Coherent.Benchmarks;

/// <summary>
/// Console mode <c>hit-ab &lt;other Coherent.dll&gt; [trials]</c>: the L1 hit of this build against another build of
/// Coherent (e.g. the commit before a change), side by side in one process. The other build is loaded with a second copy
/// of this benchmark assembly into its own load context, so the same hit loop (<see cref="HitBenchmarks"/>'s: 1,000
/// resident keys, <c>GetOrSetAsync</c> with a state, one thread) runs against each. Trials alternate (A B B A ...), each
/// reading every key 1,000 times; min and median ns per hit of each side are printed, and their ratio. Alternating short
/// trials in one process is what makes a 5 % comparison possible on a shared, loaded machine: both sides see the same
/// minutes.
/// </summary>
internal static class HitAbRun
{
    private const int Passes = 1_000;

    public static void Run(string[] args)
    {
        if (args.Length < 1 || !File.Exists(args[0]))
        {
            throw new ArgumentException("hit-ab needs the path of the other build's Coherent.dll.");
        }

        var trials = args.Length > 1 && int.TryParse(args[1], out var t) ? t : 60;
        var other = new OtherBuild(Path.GetFullPath(args[0]));
        var otherLoop = other.LoadFromAssemblyPath(typeof(HitAbRun).Assembly.Location)
            .GetType(typeof(HitAbRun).FullName!, throwOnError: true)!
            .GetMethod(nameof(MeasureTrial), BindingFlags.Static | BindingFlags.Public)!
            .CreateDelegate<Func<int, double>>();
        Func<int, double> thisLoop = MeasureTrial;

        Console.WriteLine($"L1 hit A/B: this build ({typeof(CoherentCache).Assembly.Location}) against {args[0]}");
        Console.WriteLine($"{HitBenchmarks.KeyCount:N0} resident keys, {Passes:N0} passes a trial, {trials} trials a side, alternating");

        // Warm-up: past tiered compilation's thresholds and OSR on both sides.
        for (var i = 0; i < 6; i++)
        {
            thisLoop(Passes / 4);
            otherLoop(Passes / 4);
        }

        var loaded = other.Assemblies.First(a => a.GetName().Name == "Coherent").Location;
        if (loaded == typeof(CoherentCache).Assembly.Location)
        {
            throw new InvalidOperationException("the other build's Coherent.dll did not load into its context.");
        }

        Console.WriteLine($"other context runs {loaded}");
        var (mine, theirs) = AbTrials.Alternate(_ => thisLoop(Passes), _ => otherLoop(Passes), trials);
        AbTrials.Print(mine, theirs, "ns", "F2");
    }

    private static CoherentCache? s_cache;
    private static string[]? s_keys;
    private static string[]? s_values;

    /// <summary>One trial in this load context's build: ns per hit over <paramref name="passes"/> reads of every key.</summary>
    public static double MeasureTrial(int passes)
    {
        if (s_cache is null)
        {
            s_keys = Peers.Keys("bench", HitBenchmarks.KeyCount);
            s_values = Peers.Values(HitBenchmarks.KeyCount);
            s_cache = Peers.Coherent();
            for (var round = 0; round < 2; round++)
            {
                for (var i = 0; i < s_keys.Length; i++)
                {
                    Peers.Sync(s_cache.GetOrSetAsync(s_keys[i], s_values[i], static (v, _) => new ValueTask<string>(v)));
                }
            }
        }

        var start = Stopwatch.GetTimestamp();
        for (var p = 0; p < passes; p++)
        {
            Pass(s_cache, s_keys!, s_values!);
        }

        return Stopwatch.GetElapsedTime(start).TotalNanoseconds / ((double)passes * s_keys!.Length);
    }

    /// <summary>HitBenchmarks.Coherent's loop body.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string? Pass(CoherentCache cache, string[] keys, string[] values)
    {
        string? last = null;
        for (var i = 0; i < keys.Length; i++)
        {
            last = Peers.Sync(cache.GetOrSetAsync(keys[i], values[i], static (v, _) => new ValueTask<string>(v)));
        }

        return last;
    }

    /// <summary>Resolves Coherent (and Coherent.Redis) from the other build's folder; everything else from the default context (shared).</summary>
    internal sealed class OtherBuild(string coherentPath) : AssemblyLoadContext("other-build")
    {
        private readonly string _folder = Path.GetDirectoryName(coherentPath)!;

        protected override Assembly? Load(AssemblyName name) =>
            name.Name is "Coherent" or "Coherent.Redis" ? LoadFromAssemblyPath(Path.Combine(_folder, name.Name + ".dll")) : null;
    }
}
