using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.Extensions.Tests;

/// <summary>app.MapCoherentDiagnostics() on a real Kestrel: authorization by default, the page's content, its JSON.</summary>
public sealed class DiagnosticsPageTests
{
    private static readonly HttpClient Http = new();

    private static void TwoCaches(WebApplicationBuilder builder)
    {
        builder.Services.AddCoherentCache(b => b.WithName("shop")
            .Define("product", p => p.MaxStaleness(TimeSpan.FromSeconds(2)).Ttl(TimeSpan.FromMinutes(10)).Reason("prices within 2 s")));
        builder.Services.AddKeyedCoherentCache("orders", b => b
            .Define("order", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(5))));
    }

    [Fact]
    public async Task The_page_refuses_an_unauthenticated_request_by_default_and_shows_every_cache_to_a_signed_in_user()
    {
        await using var app = await TestWebApp.StartAsync(TwoCaches, a => a.MapCoherentDiagnostics());
        var ct = TestContext.Current.CancellationToken;

        using var anonymous = await Http.SendAsync(TestWebApp.Get($"{app.Url}/coherent"), ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var anonymousJson = await Http.SendAsync(TestWebApp.Get($"{app.Url}/coherent/json"), ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymousJson.StatusCode);

        using var signedIn = await Http.SendAsync(TestWebApp.Get($"{app.Url}/coherent", "ana"), ct);
        Assert.Equal(HttpStatusCode.OK, signedIn.StatusCode);
        Assert.Equal("text/html", signedIn.Content.Headers.ContentType?.MediaType);
        var html = await signedIn.Content.ReadAsStringAsync(ct);
        Assert.Contains("<td>product</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td>order</td>", html, StringComparison.Ordinal);
        Assert.Contains("prices within 2 s", html, StringComparison.Ordinal);
        Assert.Contains("data-cache=\"shop\"", html, StringComparison.Ordinal);
        Assert.Contains("data-cache=\"orders\"", html, StringComparison.Ordinal);
        Assert.Contains("class=\"policies\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_named_policy_forbids_a_user_without_it_and_admits_one_with_it()
    {
        await using var app = await TestWebApp.StartAsync(TwoCaches, a => a.MapCoherentDiagnostics("/ops/cache", policy: "ops"));
        var ct = TestContext.Current.CancellationToken;

        using var anonymous = await Http.SendAsync(TestWebApp.Get($"{app.Url}/ops/cache"), ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var notOps = await Http.SendAsync(TestWebApp.Get($"{app.Url}/ops/cache", "ana"), ct);
        Assert.Equal(HttpStatusCode.Forbidden, notOps.StatusCode);
        using var ops = await Http.SendAsync(TestWebApp.Get($"{app.Url}/ops/cache", "bo,ops"), ct);
        Assert.Equal(HttpStatusCode.OK, ops.StatusCode);
    }

    [Fact]
    public async Task AllowAnonymous_on_the_returned_builder_opens_the_page_and_the_json_counts_reads_by_outcome()
    {
        await using var app = await TestWebApp.StartAsync(TwoCaches, a => a.MapCoherentDiagnostics().AllowAnonymous());
        var ct = TestContext.Current.CancellationToken;
        var cache = app.Services.GetRequiredService<CoherentCache>();
        await cache.GetOrSetAsync("product:1", _ => ValueTask.FromResult("one"), cancellationToken: ct);
        await cache.GetOrSetAsync("product:1", _ => ValueTask.FromResult("other"), cancellationToken: ct);

        using var response = await Http.SendAsync(TestWebApp.Get($"{app.Url}/coherent/json"), ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        var caches = json.RootElement.GetProperty("caches").EnumerateArray().ToList();
        Assert.Equal(["shop", "orders"], caches.Select(c => c.GetProperty("cache").GetString()));
        var shop = caches[0];
        Assert.Equal("None", shop.GetProperty("sharedTier").GetString());
        Assert.True(shop.GetProperty("healthy").GetBoolean());
        var product = shop.GetProperty("outcomes").GetProperty("product");
        Assert.Equal(1, product.GetProperty("computed").GetInt64());
        Assert.Equal(1, product.GetProperty("l1_hit").GetInt64());
        Assert.Equal(0, product.GetProperty("l2_hit").GetInt64());
        // The served-age histogram counts both reads (the listener turned the instrument on when the page was mapped).
        var servedAge = shop.GetProperty("histograms").GetProperty("served_age").GetProperty("product");
        Assert.Equal(2, servedAge.EnumerateArray().Sum(b => b.GetInt64()));
        Assert.Equal("orders", caches[1].GetProperty("serviceKey").GetString());

        using var page = await Http.SendAsync(TestWebApp.Get($"{app.Url}/coherent"), ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public async Task Mapping_the_page_without_a_registered_cache_fails_with_the_call_to_make()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var app = await TestWebApp.StartAsync(_ => { }, a => a.MapCoherentDiagnostics());
        });
        Assert.Contains("AddCoherentCache", error.Message, StringComparison.Ordinal);
    }
}
