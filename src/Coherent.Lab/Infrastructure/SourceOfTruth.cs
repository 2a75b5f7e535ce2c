using System.Collections.Concurrent;
using System.Globalization;
using Coherent.Testing;
using Microsoft.Data.Sqlite;

namespace Coherent.Lab.Infrastructure;

/// <summary>
/// The lab's database: a real SQLite file of products with a price and a version. Every read and write is a real query,
/// counted; every committed version's commit time (and the time the writer told the cache) is kept so each read can be
/// judged stale or fresh afterwards.
/// </summary>
internal sealed class SourceOfTruth : IDisposable
{
    private readonly SqliteFile _file;
    private readonly ConcurrentDictionary<long, VersionLog> _history = new();
    private long _reads;
    private long _writes;
    private int _inFlight;
    private int _peakInFlight;

    public SourceOfTruth(string path, int products)
    {
        _file = new SqliteFile(path, "CREATE TABLE products (id INTEGER PRIMARY KEY, price REAL NOT NULL, version INTEGER NOT NULL, category INTEGER NOT NULL)");
        _file.InsertAll("INSERT INTO products (id, price, version, category) VALUES ($id, $price, 1, $category)", Enumerable.Range(1, products), static (p, i) =>
        {
            p.AddWithValue("$id", i);
            p.AddWithValue("$price", 10.0 + (i % 90));
            p.AddWithValue("$category", i % 20);
        });
        for (var i = 1; i <= products; i++)
        {
            _history[i] = new VersionLog();
        }
        Products = products;
        Path = path;
    }

    public int Products { get; }

    public string Path { get; }

    /// <summary>Extra latency added to each read, to stand for a real query's cost (the herd scenario sets 50 ms).</summary>
    public TimeSpan ReadDelay { get; set; }

    public long Reads => Interlocked.Read(ref _reads);

    public long Writes => Interlocked.Read(ref _writes);

    public int PeakConcurrentReads => Volatile.Read(ref _peakInFlight);

    /// <summary>Called with the lab time of every read's start (for load-over-time charts).</summary>
    public Action<double>? OnRead { get; set; }

    public void ResetCounters()
    {
        Interlocked.Exchange(ref _reads, 0);
        Interlocked.Exchange(ref _writes, 0);
        Volatile.Write(ref _peakInFlight, 0);
    }

    public async ValueTask<Product> ReadAsync(long id, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        OnRead?.Invoke(LabClock.NowMs);
        var inFlight = Interlocked.Increment(ref _inFlight);
        InterlockedMax(ref _peakInFlight, inFlight);
        try
        {
            if (ReadDelay > TimeSpan.Zero)
            {
                await Task.Delay(ReadDelay, cancellationToken);
            }

            await using var connection = Open();
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "SELECT price, version FROM products WHERE id = $id";
            cmd.Parameters.AddWithValue("$id", id);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                throw new InvalidOperationException($"No product {id}.");
            }

            return new Product(id, reader.GetDouble(0), reader.GetInt64(1));
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Changes the price and returns the new version; records its commit time.</summary>
    public async ValueTask<long> WritePriceAsync(long id, double price, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _writes);
        await using var connection = Open();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "UPDATE products SET price = $price, version = version + 1 WHERE id = $id RETURNING version";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$price", price);
        var version = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        _history[id].Committed(version, LabClock.NowMs);
        return version;
    }

    /// <summary>The writer told the cache about <paramref name="version"/> (its invalidation returned).</summary>
    public void Told(long id, long version) => _history[id].Told(version, LabClock.NowMs);

    /// <summary>
    /// How stale a read was: the time from when the version after the one it returned was committed (or, with
    /// <paramref name="sinceTold"/>, when the cache was told of it) to the read's end — counted only if that happened
    /// before the read started. Zero when the read returned the current version.
    /// </summary>
    public double Staleness(long id, long versionRead, double readStartMs, double readEndMs, bool sinceTold) =>
        _history[id].Staleness(versionRead, readStartMs, readEndMs, sinceTold);

    private SqliteConnection Open() => _file.Open();

    private static void InterlockedMax(ref int target, int value)
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

    public void Dispose() => SqliteConnection.ClearAllPools();

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

/// <summary>A product row as read from the database.</summary>
internal sealed record Product(long Id, double Price, long Version);
