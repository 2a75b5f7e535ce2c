using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;

namespace Coherent.Lab.Scenarios;

/// <summary>Prints the declared policy table as a reviewer would see it.</summary>
internal sealed class PoliciesScenario : IScenario
{
    public string Name => "policies";

    public async Task<ScenarioResult> RunAsync(LabEnvironment env, CancellationToken cancellationToken)
    {
        await using var cache = LabPolicies.DeclareAll(new CoherentCacheBuilder()).Build();
        var report = cache.DescribePolicies();
        var result = new ScenarioResult(Name, "Declared policies",
            "Write down the TTL you are considering, then ask whether staleness of that duration is acceptable for this data.")
        {
            Preformatted = report.ToString(),
        };
        result.Notes.Add("Strict mode: a key of an undeclared family is refused with UndeclaredFamilyException, so no data is cached without a decision.");
        return result;
    }
}
