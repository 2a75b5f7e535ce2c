using System.Diagnostics;

namespace Coherent.Testing;

/// <summary>Bounded waits on real network effects (never a bare sleep): the one polling loop of the harness.</summary>
public static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> every few ms; true once it holds, false when <paramref name="timeout"/> passed first.</summary>
    public static async Task<bool> WithinAsync(Func<Task<bool>> condition, TimeSpan timeout, int pollMs = 5)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(pollMs);
        }

        return true;
    }

    public static Task<bool> WithinAsync(Func<bool> condition, TimeSpan timeout, int pollMs = 5) =>
        WithinAsync(() => Task.FromResult(condition()), timeout, pollMs);

    /// <summary>Fails the test (naming <paramref name="because"/>) unless <paramref name="condition"/> holds within <paramref name="timeout"/>.</summary>
    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string because) =>
        TrueAsync(() => Task.FromResult(condition()), timeout, because, pollMs: 5);

    public static Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string because) => TrueAsync(condition, timeout, because, pollMs: 10);

    private static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string because, int pollMs)
    {
        if (!await WithinAsync(condition, timeout, pollMs))
        {
            Assert.Fail($"Timed out after {timeout}: {because}");
        }
    }
}
