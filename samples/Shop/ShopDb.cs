using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Shop;

/// <summary>The shop's source of truth: products and categories in a SQLite file.</summary>
public sealed class ShopDb
{
    private readonly string _connectionString;

    /// <summary>Opens (and seeds, when new) the database at <paramref name="path"/>.</summary>
    public ShopDb(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();
        using var connection = Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category INTEGER NOT NULL, price REAL NOT NULL);
            INSERT OR IGNORE INTO products (id, name, category, price)
              WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 200)
              SELECT n, 'Product ' || n, n % 10, 10 + (n % 50) FROM seq;
            """;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Queries run so far (reads that reached the database).</summary>
    public long Queries => Interlocked.Read(ref _queries);

    private long _queries;

    /// <summary>One product, or null.</summary>
    public async ValueTask<Product?> GetProductAsync(int id, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _queries);
        await using var connection = Open();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT id, name, category, price FROM products WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>The products of a category.</summary>
    public async ValueTask<IReadOnlyList<Product>> GetCategoryAsync(int category, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _queries);
        await using var connection = Open();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT id, name, category, price FROM products WHERE category = $c ORDER BY id";
        cmd.Parameters.AddWithValue("$c", category);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        var list = new List<Product>();
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(Read(reader));
        }

        return list;
    }

    /// <summary>Sets a price; returns the product's category, or null when there is no such product.</summary>
    public async ValueTask<int?> SetPriceAsync(int id, decimal price, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "UPDATE products SET price = $p WHERE id = $id RETURNING category";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$p", (double)price);
        var result = await cmd.ExecuteScalarAsync(cancellationToken);
        return result is null ? null : Convert.ToInt32(result, CultureInfo.InvariantCulture);
    }

    private static Product Read(SqliteDataReader r) => new(r.GetInt32(0), r.GetString(1), r.GetInt32(2), (decimal)r.GetDouble(3));

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }
}

/// <summary>A product.</summary>
public sealed record Product(int Id, string Name, int Category, decimal Price);
