using System.Net;
using Coherent;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace Shop;

/// <summary>Builds the shop: minimal API over SQLite with Coherent in front, plus the cache diagnostics page.</summary>
public static class ShopApp
{
    /// <summary>
    /// Creates the app. Settings (command line or configuration): <c>Shop:Database</c> (SQLite file, default shop.db),
    /// <c>Shop:Redis</c> (host:port of the shared Redis; without it the shop runs single-node, L1 only),
    /// <c>Shop:Node</c> (this instance's name), and the <c>Coherent</c> section for policies.
    /// </summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var settings = builder.Configuration.GetSection("Shop");
        var nodeName = settings["Node"] ?? $"shop-{Environment.ProcessId}";
        var redis = settings["Redis"];
        builder.Services.AddSingleton(new ShopDb(settings["Database"] ?? "shop.db"));
        builder.Services.AddCoherentCache(b =>
        {
            b.WithName(nodeName)
             .Strict()
             .Define("product", p => p.MaxStaleness(TimeSpan.FromSeconds(2)).Ttl(TimeSpan.FromMinutes(10))
                 .Reason("a changed price must show within 2 s on every instance: shop owner, 2026-11"))
             .Define("catalog", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(5))
                 .Reason("category listings may lag 5 s: shop owner, 2026-11"));
            if (!string.IsNullOrEmpty(redis))
            {
                b.WithRedis(redis);
            }
        });
        builder.Services.AddHealthChecks().AddCoherent();
        // The diagnostics page is for the people who run the shop: from the machine itself only. The shop has no sign-in,
        // so a refused request is answered 401/403 by a cookie scheme that never redirects to a login page.
        builder.Services.AddAuthorization(o => o.AddPolicy("local", p => p.RequireAssertion(c =>
            c.Resource is HttpContext http && http.Connection.RemoteIpAddress is { } ip && IPAddress.IsLoopback(ip))));
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.Events.OnRedirectToLogin = c => Refuse(c.Response, StatusCodes.Status401Unauthorized);
            o.Events.OnRedirectToAccessDenied = c => Refuse(c.Response, StatusCodes.Status403Forbidden);
        });

        var app = builder.Build();

        app.MapGet("/products/{id:int}", async (int id, CoherentCache cache, ShopDb db, CancellationToken ct) =>
        {
            var product = await cache.GetOrSetAsync($"product:{id}", (db, id), static (s, t) => s.db.GetProductAsync(s.id, t), cancellationToken: ct);
            return product is null ? Results.NotFound() : Results.Ok(product);
        });
        app.MapGet("/categories/{id:int}/products", async (int id, CoherentCache cache, ShopDb db, CancellationToken ct) =>
            Results.Ok(await cache.GetOrSetAsync($"catalog:{id}", (db, id), static (s, t) => s.db.GetCategoryAsync(s.id, t),
                new CacheEntryOptions { Tags = [$"category:{id}"] }, ct)));
        app.MapPut("/products/{id:int}/price", async (int id, PriceChange change, CoherentCache cache, ShopDb db, CancellationToken ct) =>
        {
            if (change.Price <= 0)
            {
                return Results.BadRequest("price must be positive");
            }

            var category = await db.SetPriceAsync(id, change.Price, ct);
            if (category is null)
            {
                return Results.NotFound();
            }

            // Database first, then tell the cache: the key and every listing of its category.
            await cache.InvalidateAsync($"product:{id}", ct);
            await cache.InvalidateTagAsync($"category:{category}", ct);
            return Results.NoContent();
        });
        app.MapCoherentDiagnostics("/_coherent", policy: "local");   // the page, and its JSON at /_coherent/json
        app.MapHealthChecks("/healthz");
        return app;
    }

    private static Task Refuse(HttpResponse response, int status)
    {
        response.StatusCode = status;
        return Task.CompletedTask;
    }
}

/// <summary>The body of a price change.</summary>
public sealed record PriceChange(decimal Price);
