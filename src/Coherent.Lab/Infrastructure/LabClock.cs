using System.Diagnostics;

namespace Coherent.Lab.Infrastructure;

/// <summary>High-resolution milliseconds since the lab started: staleness and propagation are sub-millisecond figures.</summary>
internal static class LabClock
{
    private static readonly long Origin = Stopwatch.GetTimestamp();

    public static double NowMs => Stopwatch.GetElapsedTime(Origin).TotalMilliseconds;
}
