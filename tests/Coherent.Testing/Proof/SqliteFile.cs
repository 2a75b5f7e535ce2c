using Microsoft.Data.Sqlite;

namespace Coherent.Testing;

/// <summary>A fresh SQLite database file in WAL mode (the lab's and the proof's source of truth), pooled connections.</summary>
public sealed class SqliteFile
{
    private readonly string _connectionString;

    /// <summary>Deletes any file at <paramref name="path"/>, then creates the database with <paramref name="schema"/>.</summary>
    public SqliteFile(string path, string schema)
    {
        if (File.Exists(path))
        {
            File.Delete(path);
        }

        Path = path;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, Mode = SqliteOpenMode.ReadWriteCreate, DefaultTimeout = 30 }.ToString();
        using var connection = Open();
        Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; " + schema);
    }

    public string Path { get; }

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Inserts every row in one transaction; <paramref name="bind"/> sets a row's parameters.</summary>
    public void InsertAll<T>(string sql, IEnumerable<T> rows, Action<SqliteParameterCollection, T> bind)
    {
        using var connection = Open();
        using var tx = connection.BeginTransaction();
        using var insert = connection.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = sql;
        foreach (var row in rows)
        {
            insert.Parameters.Clear();
            bind(insert.Parameters, row);
            insert.ExecuteNonQuery();
        }

        tx.Commit();
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Closes pooled connections and deletes the file and its WAL side files (best effort).</summary>
    public void Delete()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            File.Delete(Path);
            File.Delete(Path + "-wal");
            File.Delete(Path + "-shm");
        }
        catch (IOException)
        {
            // still open somewhere: the temp folder is cleaned by the OS
        }
    }
}
