namespace Coherent.Testing;

/// <summary>A source of truth with a version number; factories read it, writers bump it.</summary>
public sealed class Source
{
    private long _version = 1;
    private long _runs;

    public long Version => Volatile.Read(ref _version);

    public long Runs => Volatile.Read(ref _runs);

    public long Bump() => Interlocked.Increment(ref _version);

    public ValueTask<long> ReadAsync(CancellationToken _)
    {
        Interlocked.Increment(ref _runs);
        return ValueTask.FromResult(Version);
    }
}
