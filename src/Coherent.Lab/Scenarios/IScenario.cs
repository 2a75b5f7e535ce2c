using Coherent.Lab.Infrastructure;
using Coherent.Lab.Report;

namespace Coherent.Lab.Scenarios;

internal interface IScenario
{
    string Name { get; }

    Task<ScenarioResult> RunAsync(LabEnvironment env, CancellationToken cancellationToken);
}
