using System.Diagnostics;
using System.Reflection;
using Coherent.Testing;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>
/// Console mode <c>l2-ab &lt;other Coherent.dll&gt; [trials]</c>: the L2 hit of this build against another build (e.g. the
/// commit before a restructure), side by side in one process against one throwaway redis-server, as <c>hit-ab</c> does for
/// the L1 hit. The other build's Coherent and Coherent.Redis load into their own context with a second copy of this
/// assembly. Each trial: a writer node stores fresh keys (not timed), then a reader node of the same build reads each once
/// — an L2 hit, since its L1 never held them. Public API only, so the loop runs unchanged against an older build. Trials
/// alternate (A B B A ...); min and median µs per hit of each side, and their ratio.
/// </summary>
internal static class L2AbRun
{
    private const int KeysPerTrial = 200;

    public static async Task RunAsync(string[] args)
    {
        if (args.Length < 1 || !File.Exists(args[0]))
        {
            throw new ArgumentException("l2-ab needs the path of the other build's Coherent.dll (its Coherent.Redis.dll beside it).");
        }

        var trials = args.Length > 1 && int.TryParse(args[1], out var t) ? t : 40;
        await using var server = await RedisProcess.StartNewAsync();
        Environment.SetEnvironmentVariable("COHERENT_L2_AB_REDIS", server.Endpoint);
        var other = new HitAbRun.OtherBuild(Path.GetFullPath(args[0]));
        var otherTrial = other.LoadFromAssemblyPath(typeof(L2AbRun).Assembly.Location)
            .GetType(typeof(L2AbRun).FullName!, throwOnError: true)!
            .GetMethod(nameof(MeasureTrial), BindingFlags.Static | BindingFlags.Public)!
            .CreateDelegate<Func<string, double>>();
        Func<string, double> thisTrial = MeasureTrial;

        Console.WriteLine($"L2 hit A/B: this build against {args[0]}; {KeysPerTrial} fresh keys a trial, {trials} trials a side, alternating; {Stats.Machine()}");
        for (var i = 0; i < 4; i++)
        {
            thisTrial("warm-a" + i);
            otherTrial("warm-b" + i);
        }

        var loaded = other.Assemblies.First(a => a.GetName().Name == "Coherent").Location;
        if (loaded == typeof(CoherentCache).Assembly.Location)
        {
            throw new InvalidOperationException("the other build's Coherent.dll did not load into its context.");
        }

        Console.WriteLine($"other context runs {loaded}");
        var (mine, theirs) = AbTrials.Alternate(i => thisTrial($"a{i}"), i => otherTrial($"b{i}"), trials);
        AbTrials.Print(mine, theirs, "µs", "F1");
    }

    private static CoherentCache? s_writer;
    private static CoherentCache? s_reader;

    /// <summary>One trial in this load context's build: µs per L2 hit over fresh keys named after <paramref name="trial"/>.</summary>
    public static double MeasureTrial(string trial)
    {
        var endpoint = Environment.GetEnvironmentVariable("COHERENT_L2_AB_REDIS")!;
        var prefix = "ab-" + typeof(CoherentCache).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..8];
        s_writer ??= SharedNodes.Coherent(endpoint, prefix);
        s_reader ??= SharedNodes.Coherent(endpoint, prefix);
        var keys = Enumerable.Range(0, KeysPerTrial).Select(i => $"product:{trial}-{i}").ToArray();
        var value = Product.Sample(1);
        Task.WhenAll(keys.Select(k => s_writer.SetAsync(k, value).AsTask())).GetAwaiter().GetResult();

        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < keys.Length; i++)
        {
            var hit = s_reader.GetOrSetAsync(keys[i], static _ => ValueTask.FromResult(Product.Sample(0)));
            if (!hit.IsCompletedSuccessfully)
            {
                hit.AsTask().GetAwaiter().GetResult();
            }
        }

        return Stopwatch.GetElapsedTime(start).TotalMicroseconds / keys.Length;
    }
}
