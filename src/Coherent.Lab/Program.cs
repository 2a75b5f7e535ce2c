using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;
using Coherent.Lab.Scenarios;

LabOptions options;
try
{
    options = LabOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine();
    Console.Error.WriteLine(LabOptions.Usage);
    return 2;
}

if (options.Help)
{
    Console.WriteLine(LabOptions.Usage);
    return 0;
}

IScenario[] all = [new PoliciesScenario(), new StalePricesScenario(), new HerdScenario(), new LocalVsDistributedScenario(), new AdvisorScenario(), new FaultsScenario(), new LoadScenario()];
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};

var started = DateTimeOffset.UtcNow;
await using var env = await LabEnvironment.StartAsync(options, Console.Out);
Console.WriteLine($"Coherent lab: {env.Description}; scenarios: {string.Join(", ", options.Scenarios)}; {options.Duration.TotalSeconds:0.#} s per strategy.");
var results = new List<ScenarioResult>();
foreach (var scenario in all.Where(s => options.Scenarios.Contains(s.Name)))
{
    Console.WriteLine();
    Console.WriteLine($">> {scenario.Name}");
    var result = await scenario.RunAsync(env, cts.Token);
    ConsoleReport.Print(result, Console.Out);
    results.Add(result);
}

HtmlReport.Write(options.ReportPath, results, env.Description, started);
Console.WriteLine();
Console.WriteLine($"Report written to {Path.GetFullPath(options.ReportPath)} ({(DateTimeOffset.UtcNow - started).TotalSeconds:0} s).");
var broken = results.Where(r => !r.Passed).Select(r => r.Name).ToList();
if (broken.Count > 0)
{
    Console.WriteLine($"Bounds broken in: {string.Join(", ", broken)}");
    return 1;
}

return 0;
