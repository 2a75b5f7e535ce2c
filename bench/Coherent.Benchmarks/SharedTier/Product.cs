using System.Text.Json;

namespace Coherent.Benchmarks.SharedTier;

/// <summary>The ~1 KB JSON value every shared-tier case reads: a product with a description, tags and attributes.</summary>
public sealed class Product
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    public string Description { get; set; } = "";

    public decimal Price { get; set; }

    public string Currency { get; set; } = "";

    public int Stock { get; set; }

    public string[] Tags { get; set; } = [];

    public Dictionary<string, string> Attributes { get; set; } = [];

    public DateTime UpdatedAt { get; set; }

    /// <summary>The serializer options Coherent uses by default (web defaults); the baseline deserializes with the same.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static Product Sample(int id) => new()
    {
        Id = id,
        Name = $"Espresso machine, model {id}",
        Description = string.Concat(Enumerable.Repeat("Dual boiler, PID temperature control, 58 mm portafilter. ", 13)),
        Price = 899.95m + id,
        Currency = "EUR",
        Stock = 17,
        Tags = ["kitchen", "coffee", "espresso", "appliance", "premium"],
        Attributes = new Dictionary<string, string>
        {
            ["color"] = "stainless",
            ["voltage"] = "230V",
            ["weight"] = "23 kg",
            ["warranty"] = "3 years",
            ["origin"] = "IT",
        },
        UpdatedAt = new DateTime(2026, 11, 26, 10, 0, 0, DateTimeKind.Utc),
    };

    public static byte[] Utf8(Product product) => JsonSerializer.SerializeToUtf8Bytes(product, Json);
}
