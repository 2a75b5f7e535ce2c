using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Coherent.Testing;
using Microsoft.AspNetCore.Builder;
using Shop;

namespace Coherent.Shop.Tests;

/// <summary>Two shop instances on different loopback ports sharing one real redis-server and one SQLite file.</summary>
public sealed class ShopEndToEndTests : IAsyncLifetime
{
    private RedisProcess? _redis;
    private readonly List<WebApplication> _apps = [];
    private readonly string _db = Path.Combine(Path.GetTempPath(), $"shop-e2e-{Guid.NewGuid():N}.db");
    private readonly List<string> _urls = [];

    public async ValueTask InitializeAsync()
    {
        if (!RedisProcess.Available)
        {
            return;
        }

        _redis = await RedisProcess.StartNewAsync();
        for (var i = 0; i < 2; i++)
        {
            var url = $"http://127.0.0.1:{Ports.Free()}";
            var app = ShopApp.Build(["--urls", url, "--Shop:Database", _db, "--Shop:Redis", _redis.Endpoint, "--Shop:Node", $"shop-{i}", "--Logging:LogLevel:Default", "Warning"]);
            await app.StartAsync();
            _apps.Add(app);
            _urls.Add(url);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private void RequireRedis()
    {
        if (_redis is null)
        {
            MissingServer.Skip(RedisProcess.SkipReason!);
        }
    }

    [Fact]
    public async Task A_price_change_through_one_instance_is_served_by_the_other_within_the_bound()
    {
        RequireRedis();
        using var http = new HttpClient();
        var a = _urls[0];
        var b = _urls[1];
        var before = await http.GetFromJsonAsync<Product>($"{b}/products/7", TestContext.Current.CancellationToken);
        Assert.NotNull(before);
        await http.GetFromJsonAsync<Product>($"{a}/products/7", TestContext.Current.CancellationToken);
        var listing = await http.GetFromJsonAsync<List<Product>>($"{b}/categories/{before.Category}/products", TestContext.Current.CancellationToken);
        Assert.Contains(listing!, p => p.Id == 7 && p.Price == before.Price);

        var newPrice = before.Price + 13.5m;
        var put = await http.PutAsJsonAsync($"{a}/products/7/price", new PriceChange(newPrice), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        var changedAt = Stopwatch.StartNew();

        // The product family's MaxStaleness is 2 s; on a healthy bus the change arrives in well under a millisecond.
        Product? seen = null;
        while (changedAt.Elapsed < TimeSpan.FromSeconds(2))
        {
            seen = await http.GetFromJsonAsync<Product>($"{b}/products/7", TestContext.Current.CancellationToken);
            if (seen!.Price == newPrice)
            {
                break;
            }
        }

        Assert.Equal(newPrice, seen!.Price);
        Assert.True(changedAt.Elapsed < TimeSpan.FromSeconds(2), $"instance B served the old price for {changedAt.Elapsed}");
        // The listing is invalidated by its own (tag) message, published after the product's: it may land a moment later,
        // and must land within the same bound.
        List<Product>? relisted = null;
        while (changedAt.Elapsed < TimeSpan.FromSeconds(2))
        {
            relisted = await http.GetFromJsonAsync<List<Product>>($"{b}/categories/{before.Category}/products", TestContext.Current.CancellationToken);
            if (relisted!.Any(p => p.Id == 7 && p.Price == newPrice))
            {
                break;
            }
        }

        Assert.Contains(relisted!, p => p.Id == 7 && p.Price == newPrice);
        Assert.True(changedAt.Elapsed < TimeSpan.FromSeconds(2), $"instance B listed the old price for {changedAt.Elapsed}");
    }

    [Fact]
    public async Task Diagnostics_json_and_health_report_the_shared_tier()
    {
        RequireRedis();
        using var http = new HttpClient();
        await http.GetAsync($"{_urls[0]}/products/1", TestContext.Current.CancellationToken);
        await http.GetAsync($"{_urls[0]}/products/1", TestContext.Current.CancellationToken);
        var json = await http.GetStringAsync($"{_urls[0]}/_coherent/json", TestContext.Current.CancellationToken);
        Assert.Contains("\"sharedTier\":\"Healthy\"", json, StringComparison.Ordinal);
        Assert.Contains("\"family\":\"product\"", json, StringComparison.Ordinal);
        var health = await http.GetAsync($"{_urls[0]}/healthz", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Diagnostics_page_renders_tables_and_charts_in_headless_chromium()
    {
        RequireRedis();
        var chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        if (chromium is null)
        {
            MissingServer.Skip("chromium is not installed (apt-get install chromium; .ci/run installs it).");
        }

        using var http = new HttpClient();
        for (var i = 0; i < 5; i++)
        {
            await http.GetAsync($"{_urls[0]}/products/{1 + (i % 2)}", TestContext.Current.CancellationToken);
        }

        var page = $"{_urls[0]}/_coherent";
        var shot = Path.Combine(Path.GetTempPath(), "coherent-diagnostics.png");
        var flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync";
        var dom = await RunAsync(chromium, $"{flags} --user-data-dir={Path.Combine(Path.GetTempPath(), "chromium-" + Guid.NewGuid().ToString("N"))} --dump-dom {page}");
        Assert.Contains("<table class=\"policies\">", dom, StringComparison.Ordinal);
        Assert.Contains("<table class=\"outcomes\">", dom, StringComparison.Ordinal);
        Assert.Contains("<table class=\"advisor\">", dom, StringComparison.Ordinal);
        Assert.Contains("class=\"histogram served_age\"", dom, StringComparison.Ordinal);
        Assert.Contains(">product<", dom, StringComparison.Ordinal);

        await RunAsync(chromium, $"{flags} --user-data-dir={Path.Combine(Path.GetTempPath(), "chromium-" + Guid.NewGuid().ToString("N"))} --window-size=1200,1600 --screenshot={shot} {page}");
        Assert.True(File.Exists(shot) && new FileInfo(shot).Length > 5_000, $"no screenshot at {shot}");
    }

    private static async Task<string> RunAsync(string file, string arguments)
    {
        var psi = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return await stdout;
    }
}
