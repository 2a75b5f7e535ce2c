using System.Globalization;
using Coherent.Testing;

namespace Coherent.Lab.Infrastructure;

/// <summary>
/// The lab's database: products 1..N as rows of the harness's <see cref="SourceOfTruth"/> (a real SQLite file; the value
/// of a row is the product's price). This only names rows by product id; reading, writing and judging staleness are the
/// store's.
/// </summary>
internal sealed class Products(SourceOfTruth store) : IDisposable
{
    public static Products Create(string path, int count) => new(new SourceOfTruth(path, Enumerable.Range(1, count).Select(i => Row(i))));

    public SourceOfTruth Store => store;

    /// <inheritdoc cref="SourceOfTruth.ReadDelay"/>
    public TimeSpan ReadDelay { get => store.ReadDelay; set => store.ReadDelay = value; }

    /// <inheritdoc cref="SourceOfTruth.OnRead"/>
    public Action<double>? OnRead { get => store.OnRead; set => store.OnRead = value; }

    public long Reads => store.Reads;

    public int PeakConcurrentReads => store.PeakConcurrentReads;

    public ValueTask<Row> ReadAsync(long id, CancellationToken cancellationToken) => store.ReadAsync(Row(id), cancellationToken);

    /// <summary>Changes the price and returns the new version; records its commit time.</summary>
    public ValueTask<long> WritePriceAsync(long id, double price, CancellationToken cancellationToken) => store.WriteAsync(Row(id), price, cancellationToken);

    /// <inheritdoc cref="SourceOfTruth.Told"/>
    public void Told(long id, long version) => store.Told(Row(id), version);

    /// <inheritdoc cref="SourceOfTruth.Staleness"/>
    public double Staleness(long id, long versionRead, double readStartMs, double readEndMs, bool sinceTold) =>
        store.Staleness(Row(id), versionRead, readStartMs, readEndMs, sinceTold);

    public void Dispose() => store.Dispose();

    private static string Row(long id) => id.ToString(CultureInfo.InvariantCulture);
}
