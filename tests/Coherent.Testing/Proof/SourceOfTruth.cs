using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Coherent.Testing;

/// <summary>A row as read from the source of truth: its key, its value (a price, say) and its version.</summary>
public sealed record Row(string Key, double Value, long Version);

/// <summary>
/// The source of truth of the proof and the lab: a real SQLite file, one row per cache key with a value and a version
/// number. Factories read it, writers bump it; every read and write is a real query, counted. Each committed version's
/// commit time (and when the writer told the cache) is kept, so a read can be judged stale or fresh afterwards.
/// </summary>
public sealed class SourceOfTruth : IDisposable
{
    private readonly SqliteFile _file;
    private readonly ConcurrentDictionary<string, VersionLog> _history = new(StringComparer.Ordinal);
    private long _reads;
    private long _writes;
    private int _inFlight;
    private long _peakInFlight;

    /// <summary>Creates the file with one row per key, version 1, value 10 + (its index mod 90).</summary>
    public SourceOfTruth(string path, IEnumerable<string> keys)
    {
        var all = keys.ToList();
        _file = new SqliteFile(path, "CREATE TABLE rows (key TEXT PRIMARY KEY, value REAL NOT NULL, version INTEGER NOT NULL)");
        _file.InsertAll("INSERT INTO rows (key, value, version) VALUES ($key, $value, 1)", all.Select((k, i) => (k, i)), static (p, row) =>
        {
            p.AddWithValue("$key", row.k);
            p.AddWithValue("$value", 10.0 + (row.i % 90));
        });
        foreach (var key in all)
        {
            _history[key] = new VersionLog();
        }
    }

    public string Path => _file.Path;

    /// <summary>Extra latency added to each read, to stand for a real query's cost (the lab's herd sets 50 ms).</summary>
    public TimeSpan ReadDelay { get; set; }

    public long Reads => Interlocked.Read(ref _reads);

    public long Writes => Interlocked.Read(ref _writes);

    public int PeakConcurrentReads => (int)Volatile.Read(ref _peakInFlight);

    /// <summary>Called with the <see cref="ProofClock"/> time of every read's start (for load-over-time charts).</summary>
    public Action<double>? OnRead { get; set; }

    public void ResetCounters()
    {
        Interlocked.Exchange(ref _reads, 0);
        Interlocked.Exchange(ref _writes, 0);
        Volatile.Write(ref _peakInFlight, 0);
    }

    public async ValueTask<Row> ReadAsync(string key, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        OnRead?.Invoke(ProofClock.NowMs);
        var inFlight = Interlocked.Increment(ref _inFlight);
        Atomic.Max(ref _peakInFlight, inFlight);
        try
        {
            if (ReadDelay > TimeSpan.Zero)
            {
                await Task.Delay(ReadDelay, cancellationToken);
            }

            await using var connection = _file.Open();
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "SELECT value, version FROM rows WHERE key = $key";
            cmd.Parameters.AddWithValue("$key", key);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                throw new InvalidOperationException($"No row {key}.");
            }

            return new Row(key, reader.GetDouble(0), reader.GetInt64(1));
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>The row's version alone (what the proof caches and the checker judges).</summary>
    public async ValueTask<long> ReadVersionAsync(string key, CancellationToken cancellationToken) => (await ReadAsync(key, cancellationToken)).Version;

    /// <summary>Sets the value and bumps the version of one row; returns the new version and records its commit time.</summary>
    public async ValueTask<long> WriteAsync(string key, double value, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _writes);
        await using var connection = _file.Open();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "UPDATE rows SET value = $value, version = version + 1 WHERE key = $key RETURNING version";
        cmd.Parameters.AddWithValue("$key", key);
        cmd.Parameters.AddWithValue("$value", value);
        var version = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        _history[key].Committed(version, ProofClock.NowMs);
        return version;
    }

    /// <summary>Bumps the version of every key in one transaction; returns the new versions, in order.</summary>
    public async ValueTask<long[]> BumpAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        Interlocked.Add(ref _writes, keys.Count);
        await using var connection = _file.Open();
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        var versions = new long[keys.Count];
        await using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "UPDATE rows SET version = version + 1 WHERE key = $key RETURNING version";
        var p = cmd.Parameters.Add("$key", SqliteType.Text);
        for (var i = 0; i < keys.Count; i++)
        {
            p.Value = keys[i];
            versions[i] = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        }

        await tx.CommitAsync(cancellationToken);
        var now = ProofClock.NowMs;
        for (var i = 0; i < keys.Count; i++)
        {
            _history[keys[i]].Committed(versions[i], now);
        }

        return versions;
    }

    /// <summary>The writer told the cache about <paramref name="version"/> (its invalidation returned).</summary>
    public void Told(string key, long version) => _history[key].Told(version, ProofClock.NowMs);

    /// <summary>
    /// How stale a read was: the time from when the version after the one it returned was committed (or, with
    /// <paramref name="sinceTold"/>, when the cache was told of it) to the read's end — counted only if that happened
    /// before the read started. Zero when the read returned the current version.
    /// </summary>
    public double Staleness(string key, long versionRead, double readStartMs, double readEndMs, bool sinceTold) =>
        _history[key].Staleness(versionRead, readStartMs, readEndMs, sinceTold);

    /// <summary>Closes the pooled connections and deletes the file.</summary>
    public void Dispose() => _file.Delete();

    private sealed class VersionLog
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<long, (double Commit, double Told)> _versions = [];

        public void Committed(long version, double at)
        {
            lock (_lock)
            {
                _versions[version] = (at, double.PositiveInfinity);
            }
        }

        public void Told(long version, double at)
        {
            lock (_lock)
            {
                if (_versions.TryGetValue(version, out var v))
                {
                    _versions[version] = (v.Commit, at);
                }
            }
        }

        public double Staleness(long versionRead, double start, double end, bool sinceTold)
        {
            lock (_lock)
            {
                if (!_versions.TryGetValue(versionRead + 1, out var next))
                {
                    return 0;
                }

                var since = sinceTold ? next.Told : next.Commit;
                return since < start ? end - since : 0;
            }
        }
    }
}
