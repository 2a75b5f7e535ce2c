using System.Diagnostics;
using System.Text;

namespace Coherent.Package.Tests;

/// <summary>
/// Runs the dotnet CLI as a user would, with a time limit, and returns what it printed. Every line goes to the test's
/// output as it comes, so a slow pack or restore shows where it is.
/// </summary>
internal sealed class DotnetCli(ITestOutputHelper output)
{
    public Dictionary<string, string?> Environment { get; } = new(StringComparer.Ordinal);

    public string Run(string workingDirectory, TimeSpan timeout, params string[] arguments) =>
        RunProgram(DotnetHost(), workingDirectory, timeout, arguments);

    public string RunProgram(string program, string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // dotnet test hands its own MSBuild and test-host settings down to this process; a child build must not
        // inherit them (they point it at the outer build's MSBuild and SDK resolver state).
        var inherited = start.Environment.Keys
            .Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)
                || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)
                || k.StartsWith("TESTINGPLATFORM", StringComparison.OrdinalIgnoreCase)
                || k.Equals("NUGET_PACKAGES", StringComparison.OrdinalIgnoreCase)
                || k.Equals("COHERENT_BUILD_SLOT", StringComparison.Ordinal))
            .ToList();
        foreach (var key in inherited)
        {
            start.Environment.Remove(key);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // Build nodes left running would keep this process's pipes open after the build has finished.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        foreach (var (key, value) in Environment)
        {
            start.Environment[key] = value;
        }

        var command = $"{Path.GetFileName(program)} {string.Join(' ', arguments)}";
        output.WriteLine($"[{DateTime.Now:HH:mm:ss}] {command}  (in {workingDirectory})");
        var printed = new StringBuilder();
        using var outputClosed = new ManualResetEventSlim();
        using var errorClosed = new ManualResetEventSlim();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Collect(e.Data, outputClosed);
        process.ErrorDataReceived += (_, e) => Collect(e.Data, errorClosed);
        var watch = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"`{command}` did not finish within {timeout.TotalSeconds:0} s; it printed:\n{Snapshot()}");
        }

        // The compiler server a build starts inherits the pipes and outlives it: give the last lines a moment, no more.
        WaitHandle.WaitAll([outputClosed.WaitHandle, errorClosed.WaitHandle], TimeSpan.FromSeconds(3));
        output.WriteLine($"[{DateTime.Now:HH:mm:ss}] exit code {process.ExitCode} after {watch.Elapsed.TotalSeconds:0} s");
        var text = Snapshot();
        Assert.True(process.ExitCode == 0, $"`{command}` failed with exit code {process.ExitCode}:\n{text}");
        return text;

        void Collect(string? line, ManualResetEventSlim closed)
        {
            if (line is null)
            {
                closed.Set();
                return;
            }

            lock (printed)
            {
                printed.AppendLine(line);
            }

            try
            {
                output.WriteLine("  " + line);
            }
            catch (InvalidOperationException)
            {
                // A line that comes after the test has ended has nowhere to go but the returned text.
            }
        }

        string Snapshot()
        {
            lock (printed)
            {
                return printed.ToString();
            }
        }
    }

    // The host that runs these tests, so the child builds use the same SDK installation.
    private static string DotnetHost() =>
        System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
