using System.Globalization;

namespace Coherent.Lab.Infrastructure;

/// <summary>Command-line options of the lab.</summary>
internal sealed class LabOptions
{
    public static readonly string[] AllScenarios = ["policies", "stale-prices", "herd", "local-vs-distributed", "advisor", "faults", "load"];

    public List<string> Scenarios { get; } = [];
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(8);
    public int Nodes { get; set; } = 3;
    public string? Redis { get; set; }

    /// <summary>Memcached servers (host:port[,host:port…]): shared nodes use Memcached instead of Redis.</summary>
    public string? Memcached { get; set; }
    public bool Quick { get; set; }
    public string ReportPath { get; set; } = "lab-report.html";
    public bool Help { get; set; }

    public static string Usage => """
        Coherent lab: the article's caching stories, run for real against Redis (embedded Garnet by default) and a SQLite file.

        Usage: dotnet run -c Release --project src/Coherent.Lab -- [options]
          --scenario NAME     run one scenario (repeatable); default: all of
                              policies, stale-prices, herd, local-vs-distributed, advisor,
                              faults (history checker under injected faults; own
                              redis-server processes), load (3 nodes, 90 % reads)
          --duration SECONDS  measured time per strategy (default 8; 1.5 with --quick)
          --nodes N           cache nodes, each with its own connection (default 3)
          --redis HOST:PORT   use this Redis instead of the embedded Garnet server
          --memcached HOST:PORT[,HOST:PORT...]
                              run the shared nodes on Memcached (no bus); the Redis above
                              still runs too, and local-vs-distributed shows both side by side
          --quick             short runs: the whole lab in under a minute
          --report PATH       where to write the HTML report (default lab-report.html)
          --help              this text
        """;

    public static LabOptions Parse(string[] args)
    {
        var o = new LabOptions();
        var problems = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--scenario":
                    var name = Value();
                    if (!AllScenarios.Contains(name) && name != "all")
                    {
                        problems.Add($"Unknown scenario '{name}' (known: {string.Join(", ", AllScenarios)}).");
                    }
                    else if (name == "all")
                    {
                        o.Scenarios.AddRange(AllScenarios);
                    }
                    else
                    {
                        o.Scenarios.Add(name);
                    }

                    break;
                case "--duration":
                    o.Duration = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0 && s <= 3600
                        ? TimeSpan.FromSeconds(s)
                        : throw new ArgumentException("--duration must be a number of seconds in (0, 3600].");
                    break;
                case "--nodes":
                    o.Nodes = int.TryParse(Value(), CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 16
                        ? n
                        : throw new ArgumentException("--nodes must be between 1 and 16.");
                    break;
                case "--redis":
                    o.Redis = Value();
                    break;
                case "--memcached":
                    o.Memcached = Value();
                    break;
                case "--quick":
                    o.Quick = true;
                    break;
                case "--report":
                    o.ReportPath = Value();
                    break;
                case "--help" or "-h" or "-?":
                    o.Help = true;
                    break;
                default:
                    problems.Add($"Unknown option '{args[i]}'.");
                    break;
            }
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, problems));
        }

        if (o.Scenarios.Count == 0)
        {
            o.Scenarios.AddRange(AllScenarios);
        }

        if (o.Quick && !args.Contains("--duration"))
        {
            o.Duration = TimeSpan.FromSeconds(1.5);
        }

        return o;
    }
}
