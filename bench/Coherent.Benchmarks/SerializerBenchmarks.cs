using System.Buffers;
using BenchmarkDotNet.Attributes;
using MessagePack;

namespace Coherent.Benchmarks;

/// <summary>
/// JSON against MessagePack on a realistic cached value (a product page: text, prices, a dictionary, five variants):
/// serialize into a reused buffer, deserialize from one contiguous payload (what an L2 hit does). The payload sizes are
/// printed, with interleaved timings, by the <c>serializers</c> mode. Unattributed types are what a team moving from JSON has; the keyed ones are
/// the same shape with <c>[MessagePackObject]</c>/<c>[Key(n)]</c>, written as arrays.
/// </summary>
public class SerializerBenchmarks
{
    public enum Format { Json, MessagePack, MessagePackLz4, MessagePackKeyed }

    [Params(Format.Json, Format.MessagePack, Format.MessagePackLz4, Format.MessagePackKeyed)]
    public Format Serializer { get; set; }

    private ICacheSerializer _serializer = null!;
    private readonly ArrayBufferWriter<byte> _buffer = new(8192);
    private ReadOnlySequence<byte> _payload;

    [GlobalSetup]
    public void Setup()
    {
        _serializer = Create(Serializer);
        _payload = new ReadOnlySequence<byte>(Payload(Serializer));
    }

    [Benchmark]
    public int Serialize()
    {
        _buffer.ResetWrittenCount();
        if (Serializer == Format.MessagePackKeyed)
        {
            _serializer.Serialize(SampleProducts.Keyed, _buffer);
        }
        else
        {
            _serializer.Serialize(SampleProducts.Plain, _buffer);
        }

        return _buffer.WrittenCount;
    }

    [Benchmark]
    public object Deserialize() => Serializer == Format.MessagePackKeyed
        ? _serializer.Deserialize<KeyedProduct>(_payload)
        : _serializer.Deserialize<Product>(_payload);

    /// <summary>
    /// The <c>serializers</c> mode: bytes per format (checked to read back), then serialize and deserialize times measured
    /// interleaved — each round runs every format for <paramref name="opsPerRound"/> operations, one after the other — and
    /// reported as the median and the minimum of the rounds' per-operation times. On a loaded machine the minimum is the
    /// steadier comparison: a load spike lands in one round of one format, not in all.
    /// </summary>
    public static void Run(int rounds = 60, int opsPerRound = 2_000)
    {
        PrintSizes();
        var formats = Enum.GetValues<Format>();
        var benches = formats.Select(f => { var b = new SerializerBenchmarks { Serializer = f }; b.Setup(); return b; }).ToArray();
        var times = formats.ToDictionary(f => f, _ => (Serialize: new List<double>(), Deserialize: new List<double>()));
        var sink = 0L;
        for (var round = -3; round < rounds; round++) // three unmeasured rounds warm the JIT up to tier 1
        {
            for (var i = 0; i < benches.Length; i++)
            {
                var bench = benches[i];
                var start = System.Diagnostics.Stopwatch.GetTimestamp();
                for (var op = 0; op < opsPerRound; op++)
                {
                    sink += bench.Serialize();
                }

                var mid = System.Diagnostics.Stopwatch.GetTimestamp();
                for (var op = 0; op < opsPerRound; op++)
                {
                    sink += bench.Deserialize().GetHashCode() & 1;
                }

                var end = System.Diagnostics.Stopwatch.GetTimestamp();
                if (round >= 0)
                {
                    times[formats[i]].Serialize.Add(System.Diagnostics.Stopwatch.GetElapsedTime(start, mid).TotalMicroseconds / opsPerRound);
                    times[formats[i]].Deserialize.Add(System.Diagnostics.Stopwatch.GetElapsedTime(mid, end).TotalMicroseconds / opsPerRound);
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine($"_{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {LoadAverage()}, .NET {Environment.Version}; {rounds} interleaved rounds of {opsPerRound:N0} operations per format (sink {sink % 10})_");
        Console.WriteLine();
        Console.WriteLine("| serializer | serialize, median (µs) | serialize, min (µs) | deserialize, median (µs) | deserialize, min (µs) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var format in formats)
        {
            var (ser, de) = times[format];
            Console.WriteLine($"| {format} | {Median(ser):0.00} | {ser.Min():0.00} | {Median(de):0.00} | {de.Min():0.00} |");
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    /// <summary>Bytes per format, and a check that each reads back what it wrote.</summary>
    public static void PrintSizes()
    {
        Console.WriteLine("| serializer | payload bytes |");
        Console.WriteLine("| --- | ---: |");
        foreach (var format in Enum.GetValues<Format>())
        {
            var bytes = Payload(format);
            var serializer = Create(format);
            var name = format == Format.MessagePackKeyed
                ? serializer.Deserialize<KeyedProduct>(new ReadOnlySequence<byte>(bytes)).Name
                : serializer.Deserialize<Product>(new ReadOnlySequence<byte>(bytes)).Name;
            if (name != SampleProducts.Plain.Name)
            {
                throw new InvalidOperationException($"{format} did not read back its own payload");
            }

            Console.WriteLine($"| {format} | {bytes.Length:N0} |");
        }
    }

    private static ICacheSerializer Create(Format format) => format switch
    {
        Format.Json => JsonCacheSerializer.Default,
        Format.MessagePackLz4 => new MessagePackCacheSerializer(new MessagePackCacheSerializerOptions { Lz4Compression = true }),
        _ => MessagePackCacheSerializer.Default,
    };

    private static byte[] Payload(Format format)
    {
        var buffer = new ArrayBufferWriter<byte>();
        if (format == Format.MessagePackKeyed)
        {
            Create(format).Serialize(SampleProducts.Keyed, buffer);
        }
        else
        {
            Create(format).Serialize(SampleProducts.Plain, buffer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}

public sealed record Variant(string Sku, string Size, string Color, decimal Price, int Stock);

public sealed record Product(long Id, string Sku, string Name, string Description, decimal Price, string Currency, int Stock,
    double Rating, int Reviews, DateTimeOffset UpdatedAt, string[] Categories, Dictionary<string, string> Attributes, List<Variant> Variants);

[MessagePackObject]
public sealed record KeyedVariant([property: Key(0)] string Sku, [property: Key(1)] string Size, [property: Key(2)] string Color,
    [property: Key(3)] decimal Price, [property: Key(4)] int Stock);

[MessagePackObject]
public sealed record KeyedProduct([property: Key(0)] long Id, [property: Key(1)] string Sku, [property: Key(2)] string Name,
    [property: Key(3)] string Description, [property: Key(4)] decimal Price, [property: Key(5)] string Currency, [property: Key(6)] int Stock,
    [property: Key(7)] double Rating, [property: Key(8)] int Reviews, [property: Key(9)] DateTimeOffset UpdatedAt, [property: Key(10)] string[] Categories,
    [property: Key(11)] Dictionary<string, string> Attributes, [property: Key(12)] List<KeyedVariant> Variants);

internal static class SampleProducts
{
    public static readonly Product Plain = new(
        40_213, "TR-RUN-0042", "Trail runner 42, waterproof",
        "A light trail shoe with a waterproof membrane, a rock plate and a 6 mm drop. Grips wet stone and holds its shape on long descents; the lacing locks the heel without pressure points.",
        129.90m, "EUR", 318, 4.6, 1_284, new DateTimeOffset(2026, 11, 28, 9, 30, 0, TimeSpan.Zero),
        ["shoes", "running", "trail"],
        new() { ["brand"] = "Northline", ["weight"] = "285 g", ["drop"] = "6 mm", ["membrane"] = "yes", ["origin"] = "PT" },
        [.. Enumerable.Range(0, 5).Select(i => new Variant($"TR-RUN-0042-{40 + i}", $"EU {40 + i}", i % 2 == 0 ? "slate" : "moss", 129.90m + i, 20 + (i * 7)))]);

    public static readonly KeyedProduct Keyed = new(
        Plain.Id, Plain.Sku, Plain.Name, Plain.Description, Plain.Price, Plain.Currency, Plain.Stock, Plain.Rating, Plain.Reviews,
        Plain.UpdatedAt, Plain.Categories, Plain.Attributes,
        [.. Plain.Variants.Select(v => new KeyedVariant(v.Sku, v.Size, v.Color, v.Price, v.Stock))]);
}
