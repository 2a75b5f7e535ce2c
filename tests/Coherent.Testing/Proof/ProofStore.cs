using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Coherent.Testing;

/// <summary>
/// The source of truth of a proof run: a real SQLite file, one row per cache key with a version number. Factories read
/// it, writers bump it; the version a read returns is what the checker judges.
/// </summary>
public sealed class ProofStore : IDisposable
{
    private readonly SqliteFile _file;
    private long _reads;

    public ProofStore(string path, IEnumerable<string> keys)
    {
        _file = new SqliteFile(path, "CREATE TABLE rows (key TEXT PRIMARY KEY, version INTEGER NOT NULL)");
        _file.InsertAll("INSERT INTO rows (key, version) VALUES ($key, 1)", keys, static (p, k) => p.AddWithValue("$key", k));
    }

    public string Path => _file.Path;

    public long Reads => Interlocked.Read(ref _reads);

    public async ValueTask<long> ReadAsync(string key, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        await using var connection = Open();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT version FROM rows WHERE key = $key";
        cmd.Parameters.AddWithValue("$key", key);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <summary>Bumps the version of every key in one transaction; returns the new versions, in order.</summary>
    public async ValueTask<long[]> BumpAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        await using var connection = Open();
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
        return versions;
    }

    private SqliteConnection Open() => _file.Open();

    public void Dispose() => _file.Delete();
}
