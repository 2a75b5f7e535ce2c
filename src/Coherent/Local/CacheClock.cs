using System.Runtime.CompilerServices;

namespace Coherent.Local;

/// <summary>
/// Milliseconds since the Unix epoch, from the cache's <see cref="TimeProvider"/>.
/// With <see cref="TimeProvider.System"/> the value is refreshed every millisecond by a timer and read from a field,
/// because a clock call costs ~28 ns on the virtual machines this runs on — more than the whole L1 hit budget.
/// Any other provider (a <c>FakeTimeProvider</c> in tests) is asked on every read, so tests stay exact.
/// </summary>
internal sealed class CacheClock : IDisposable
{
    private readonly TimeProvider _time;
    private readonly ITimer? _ticker;
    private long _cachedMs;

    public CacheClock(TimeProvider time)
    {
        _time = time;
        if (ReferenceEquals(time, TimeProvider.System))
        {
            _cachedMs = time.GetUtcNow().ToUnixTimeMilliseconds();
            _ticker = time.CreateTimer(static s => ((CacheClock)s!).Refresh(), this, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        }
    }

    public TimeProvider TimeProvider => _time;

    /// <summary>Cheap read for the hit path (at most ~1 ms behind when coarse).</summary>
    public long NowMs
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _ticker is null ? _time.GetUtcNow().ToUnixTimeMilliseconds() : Volatile.Read(ref _cachedMs);
    }

    /// <summary>Exact read for slow paths (misses, writes); also refreshes the coarse value.</summary>
    public long PreciseNowMs()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (_ticker is not null && now > Volatile.Read(ref _cachedMs))
        {
            Volatile.Write(ref _cachedMs, now);
        }

        return now;
    }

    public long GetTimestamp() => _time.GetTimestamp();

    public TimeSpan GetElapsedTime(long start) => _time.GetElapsedTime(start);

    private void Refresh() => PreciseNowMs();

    public void Dispose() => _ticker?.Dispose();
}
