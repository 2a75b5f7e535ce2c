using System.Globalization;

namespace Coherent.Benchmarks;

/// <summary>The A/B method of <c>hit-ab</c> and <c>l2-ab</c>: trials alternate (A B B A …) so both sides see the same minutes of a shared machine.</summary>
internal static class AbTrials
{
    /// <summary>Runs <paramref name="trials"/> trials a side, alternating; each side's results, sorted.</summary>
    public static (List<double> This, List<double> Other) Alternate(Func<int, double> mine, Func<int, double> theirs, int trials)
    {
        var a = new List<double>();
        var b = new List<double>();
        for (var i = 0; i < trials; i++)
        {
            if (i % 2 == 0)
            {
                a.Add(mine(i));
                b.Add(theirs(i));
            }
            else
            {
                b.Add(theirs(i));
                a.Add(mine(i));
            }
        }

        a.Sort();
        b.Sort();
        return (a, b);
    }

    /// <summary>Min, median and p90 of each side, and the ratios this / other, as a Markdown table.</summary>
    public static void Print(List<double> mine, List<double> theirs, string unit, string format)
    {
        static double Median(List<double> x) => x[x.Count / 2];
        static double P90(List<double> x) => x[x.Count * 9 / 10];
        Console.WriteLine();
        Console.WriteLine($"| Build | Min ({unit}) | Median ({unit}) | p90 ({unit}) |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| other (baseline) | {theirs[0].ToString(format, CultureInfo.InvariantCulture)} | {Median(theirs).ToString(format, CultureInfo.InvariantCulture)} | {P90(theirs).ToString(format, CultureInfo.InvariantCulture)} |");
        Console.WriteLine($"| this | {mine[0].ToString(format, CultureInfo.InvariantCulture)} | {Median(mine).ToString(format, CultureInfo.InvariantCulture)} | {P90(mine).ToString(format, CultureInfo.InvariantCulture)} |");
        Console.WriteLine($"| this / other | {mine[0] / theirs[0]:F3} | {Median(mine) / Median(theirs):F3} | |");
    }
}
