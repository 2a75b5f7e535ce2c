namespace Coherent.Testing;

/// <summary>
/// What a test does when a server it needs (redis-server, memcached, chromium) is not installed: skips with the reason on a
/// developer's machine, fails where servers are required — <c>.ci/run</c> sets <see cref="Variable"/>, so a missing
/// install step in CI fails the run instead of hiding behind skips.
/// </summary>
public static class MissingServer
{
    public const string Variable = "COHERENT_REQUIRE_SERVERS";

    public static bool Required => Environment.GetEnvironmentVariable(Variable) == "1";

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Skip(string reason)
    {
        if (Required)
        {
            Assert.Fail($"{reason} ({Variable}=1: a missing server fails the test instead of skipping it)");
        }

        Assert.Skip(reason);
    }
}
