namespace Coherent.Testing;

/// <summary>Lock-free updates shared by the workloads (proof, bench).</summary>
public static class Atomic
{
    /// <summary>Raises <paramref name="target"/> to <paramref name="value"/> when that is larger, under concurrent writers.</summary>
    public static void Max(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
