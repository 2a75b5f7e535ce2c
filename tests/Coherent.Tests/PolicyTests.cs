using Microsoft.Extensions.Configuration;

namespace Coherent.Tests;

public sealed class PolicyTests
{
    [Fact]
    public async Task Policies_defined_in_code_are_listed_by_DescribePolicies()
    {
        await using var cache = T.Builder(T.Clock())
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)).Jitter(0.1)
                .FailSafe(TimeSpan.FromHours(1), TimeSpan.FromSeconds(20)).Reason("pricing team, 2026-11"))
            .Define("country", p => p.MaxStaleness(TimeSpan.FromDays(1)).Ttl(TimeSpan.FromDays(1)).NoEarlyRefresh())
            .Strict()
            .Build();

        var report = cache.DescribePolicies();
        Assert.True(report.Strict);
        Assert.Equal(["country", "price"], report.Rows.Select(r => r.Family));
        var price = report.Rows[1];
        Assert.Equal(TimeSpan.FromSeconds(5), price.MaxStaleness);
        Assert.Equal(TimeSpan.FromMinutes(10), price.Ttl);
        Assert.Equal(TimeSpan.FromMinutes(10), price.LocalTtl);
        Assert.Equal(0.1, price.Jitter);
        Assert.Equal(1.0, price.EarlyRefreshBeta);
        Assert.Equal(TimeSpan.FromHours(1), price.FailSafeMaxAge);
        Assert.Equal(TimeSpan.FromSeconds(20), price.FailSafeThrottle);
        Assert.Equal("pricing team, 2026-11", price.Reason);
        Assert.Null(report.Rows[0].EarlyRefreshBeta);
        Assert.Null(report.Rows[0].FailSafeMaxAge);

        var text = report.ToString();
        Assert.Contains("family", text, StringComparison.Ordinal);
        Assert.Contains("max-staleness", text, StringComparison.Ordinal);
        var priceLine = text.Split('\n').Single(l => l.StartsWith("price", StringComparison.Ordinal));
        Assert.Contains("5s", priceLine, StringComparison.Ordinal);
        Assert.Contains("10m", priceLine, StringComparison.Ordinal);
        Assert.Contains("1h (throttle 20s)", priceLine, StringComparison.Ordinal);
        Assert.Contains("xfetch", priceLine, StringComparison.Ordinal);
        Assert.Contains("pricing team, 2026-11", priceLine, StringComparison.Ordinal);
        var countryLine = text.Split('\n').Single(l => l.StartsWith("country", StringComparison.Ordinal));
        Assert.Contains("1d", countryLine, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Policies_bind_from_configuration()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coherent:Strict"] = "true",
            ["Coherent:Families:price:MaxStaleness"] = "00:00:05",
            ["Coherent:Families:price:Ttl"] = "00:10:00",
            ["Coherent:Families:price:LocalTtl"] = "00:01:00",
            ["Coherent:Families:price:Jitter"] = "0.2",
            ["Coherent:Families:price:EarlyRefresh"] = "2.5",
            ["Coherent:Families:price:FailSafeMaxAge"] = "01:00:00",
            ["Coherent:Families:price:FailSafeThrottle"] = "00:00:10",
            ["Coherent:Families:price:SoftTimeout"] = "00:00:00.100",
            ["Coherent:Families:price:HardTimeout"] = "00:00:02",
            ["Coherent:Families:price:Reason"] = "pricing team",
            ["Coherent:Families:country:MaxStaleness"] = "1.00:00:00",
            ["Coherent:Families:country:EarlyRefresh"] = "off",
        }).Build();

        await using var cache = T.Builder(T.Clock()).FromConfiguration(config.GetSection("Coherent")).Build();
        var report = cache.DescribePolicies();
        Assert.True(report.Strict);
        var price = report.Rows.Single(r => r.Family == "price");
        Assert.Equal(TimeSpan.FromSeconds(5), price.MaxStaleness);
        Assert.Equal(TimeSpan.FromMinutes(10), price.Ttl);
        Assert.Equal(TimeSpan.FromMinutes(1), price.LocalTtl);
        Assert.Equal(0.2, price.Jitter);
        Assert.Equal(2.5, price.EarlyRefreshBeta);
        Assert.Equal(TimeSpan.FromHours(1), price.FailSafeMaxAge);
        Assert.Equal(TimeSpan.FromSeconds(10), price.FailSafeThrottle);
        Assert.Equal(TimeSpan.FromMilliseconds(100), price.SoftTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), price.HardTimeout);
        Assert.Equal("pricing team", price.Reason);
        var country = report.Rows.Single(r => r.Family == "country");
        Assert.Equal(TimeSpan.FromDays(1), country.MaxStaleness);
        Assert.Null(country.EarlyRefreshBeta);

        // Strict came from configuration too.
        await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await cache.GetOrSetAsync("user:1", _ => T.Value(1), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Configuration_overrides_code_set_before_it_and_code_after_it_wins()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coherent:Families:price:MaxStaleness"] = "00:00:05",
            ["Coherent:Families:price:Ttl"] = "00:02:00",
        }).Build();

        await using var cache = T.Builder(T.Clock())
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(1)).Reason("from code"))
            .FromConfiguration(config.GetSection("Coherent"))
            .Define("price", p => p.Ttl(TimeSpan.FromMinutes(3)))
            .Build();
        var price = cache.DescribePolicies().Rows.Single();
        Assert.Equal(TimeSpan.FromSeconds(5), price.MaxStaleness); // configuration over earlier code
        Assert.Equal(TimeSpan.FromMinutes(3), price.Ttl);          // later code over configuration
        Assert.Equal("from code", price.Reason);                   // untouched by configuration
    }

    [Fact]
    public void Configuration_problems_are_all_listed_including_unknown_keys()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coherent:Famillies:price:MaxStaleness"] = "00:00:05",
            ["Coherent:Families:price:MaxStalenes"] = "00:00:05",
            ["Coherent:Families:price:Ttl"] = "ten minutes",
            ["Coherent:Families:price:Jitter"] = "lots",
            ["Coherent:Families:price:EarlyRefresh"] = "sometimes",
            ["Coherent:Strict"] = "yes",
        }).Build();

        var ex = Assert.Throws<CoherentConfigurationException>(() => T.Builder(T.Clock()).FromConfiguration(config.GetSection("Coherent")).Build());
        Assert.Contains(ex.Problems, p => p.Contains("Coherent:Famillies", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("Coherent:Families:price:MaxStalenes'", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("Ttl", StringComparison.Ordinal) && p.Contains("ten minutes", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("Jitter", StringComparison.Ordinal) && p.Contains("lots", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("EarlyRefresh", StringComparison.Ordinal) && p.Contains("sometimes", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("Strict", StringComparison.Ordinal) && p.Contains("yes", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'price'", StringComparison.Ordinal) && p.Contains("MaxStaleness is required", StringComparison.Ordinal));
        Assert.Equal(7, ex.Problems.Count);
        foreach (var p in ex.Problems)
        {
            Assert.Contains(p, ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Validation_lists_every_problem_in_one_exception()
    {
        var builder = T.Builder(T.Clock())
            .Define("neg", p => p.MaxStaleness(TimeSpan.FromSeconds(-1)))
            .Define("zero", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.Zero))
            .Define("jitter", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Jitter(1.0))
            .Define("jitterneg", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Jitter(-0.1))
            .Define("local", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Ttl(TimeSpan.FromMinutes(1)).LocalTtl(TimeSpan.FromMinutes(2)))
            .Define("beta", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).EarlyRefresh(-0.5))
            .Define("missing", p => p.Ttl(TimeSpan.FromMinutes(1)))
            .Define("failsafe", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).FailSafe(TimeSpan.FromSeconds(-5)))
            .Define("timeouts", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).FailSafe(TimeSpan.FromMinutes(1)).Timeouts(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1)))
            .Define("bad family", p => p.MaxStaleness(TimeSpan.FromSeconds(1)))
            .Define("forever", p => p.MaxStaleness(TimeSpan.FromSeconds(1)).Timeouts(hard: TimeSpan.FromDays(60)))
            .WithLocalCapacity(0)
            .WithMaxKeyLength(0);

        var ex = Assert.Throws<CoherentConfigurationException>(builder.Build);
        string[] expected =
        [
            "'neg': MaxStaleness must be positive",
            "'zero': Ttl must be positive",
            "'jitter': Jitter must be in [0, 1)",
            "'jitterneg': Jitter must be in [0, 1)",
            "'local': LocalTtl",
            "'beta': EarlyRefresh beta",
            "'missing': MaxStaleness is required",
            "'failsafe': FailSafeMaxAge must be positive",
            "'timeouts': SoftTimeout",
            "'bad family' is invalid",
            "'forever': HardTimeout",
            "Local capacity",
            "Max key length",
        ];
        foreach (var e in expected)
        {
            Assert.Contains(ex.Problems, p => p.Contains(e, StringComparison.Ordinal));
        }

        Assert.Equal(expected.Length, ex.Problems.Count);
    }

    [Fact]
    public async Task The_longest_supported_timeout_is_accepted()
    {
        var time = T.Clock();
        await using var cache = T.Price(time, more: p => p.Timeouts(hard: TimeSpan.FromDays(49))).Build();
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct));
    }

    [Fact]
    public async Task Strict_mode_refuses_undeclared_families_naming_them()
    {
        await using var cache = T.Price(T.Clock()).Strict().Build();
        Assert.Equal(1, await cache.GetOrSetAsync("price:1", _ => T.Value(1), cancellationToken: T.Ct));

        var ex = await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await cache.GetOrSetAsync("user:7", _ => T.Value(1), cancellationToken: T.Ct));
        Assert.Equal("user", ex.Family);
        Assert.Equal("user:7", ex.Key);
        Assert.Contains("'user'", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await cache.SetAsync("user:7", 1, cancellationToken: T.Ct));
        await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await cache.TryGetAsync<int>("user:7", T.Ct));
        await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await cache.InvalidateAsync("user:7", T.Ct));
        var none = await Assert.ThrowsAsync<UndeclaredFamilyException>(async () => await cache.GetOrSetAsync("nofamily", _ => T.Value(1), cancellationToken: T.Ct));
        Assert.Equal("", none.Family);
        Assert.Contains("no '<family>:' prefix", none.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Non_strict_mode_applies_the_default_policy_to_undeclared_families()
    {
        var time = T.Clock();
        await using var cache = T.Price(time).DefaultPolicy(p => p.Ttl(TimeSpan.FromSeconds(30)).Jitter(0)).Build();
        var runs = 0;
        Assert.Equal(1, await cache.GetOrSetAsync("user:1", _ => T.Value(++runs), cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(1, await cache.GetOrSetAsync("user:1", _ => T.Value(++runs), cancellationToken: T.Ct));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, await cache.GetOrSetAsync("user:1", _ => T.Value(++runs), cancellationToken: T.Ct));
        Assert.False(cache.DescribePolicies().Strict);
        Assert.DoesNotContain(cache.DescribePolicies().Rows, r => r.Family == "user");
    }
}

public sealed class PolicyReportTests
{
    [Theory]
    [InlineData(500, "500ms")]
    [InlineData(1500, "1.5s")]
    [InlineData(5000, "5s")]
    [InlineData(90_000, "90s")]
    [InlineData(600_000, "10m")]
    [InlineData(7_200_000, "2h")]
    [InlineData(86_400_000, "1d")]
    public void Durations_are_formatted_the_way_people_read_policies(long ms, string expected) =>
        Assert.Equal(expected, PolicyReport.FormatDuration(TimeSpan.FromMilliseconds(ms)));

    [Fact]
    public void A_missing_duration_is_a_dash() => Assert.Equal("-", PolicyReport.FormatDuration(null));

    [Fact]
    public async Task Root_settings_bind_from_configuration()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coherent:Name"] = $"configured-{Guid.NewGuid():N}",
            ["Coherent:MaxEntries"] = "7",
            ["Coherent:MaxKeyLength"] = "12",
            ["Coherent:MaxPayloadBytes"] = "64",
            ["Coherent:Families:basket:MaxStaleness"] = "00:00:01",
            ["Coherent:Families:basket:CopyOnRead"] = "true",
        }).Build();
        await using var cache = new CoherentCacheBuilder().WithTimeProvider(T.Clock()).FromConfiguration(config.GetSection("Coherent")).Build();
        Assert.StartsWith("configured-", cache.Name, StringComparison.Ordinal);
        Assert.Equal(7, cache.Diagnostics.LocalCapacity);
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("basket:123456", 1, cancellationToken: T.Ct));
        await cache.SetAsync("basket:1", 1, cancellationToken: T.Ct);
        await Assert.ThrowsAsync<PayloadTooLargeException>(async () => await cache.SetAsync("basket:1", new string('x', 100), cancellationToken: T.Ct));
        Assert.True(cache.DescribePolicies().Rows.Single().CopyOnRead);
    }

    /// <summary>Issue 11, hole 11: these two were accepted by the reader and then did nothing.</summary>
    [Fact]
    public void Shared_tier_settings_in_the_core_section_are_reported_not_silently_ignored()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coherent:Families:price:MaxStaleness"] = "00:00:05",
            ["Coherent:Families:price:Ttl"] = "00:10:00",
            ["Coherent:Redis"] = "127.0.0.1:6379",
            ["Coherent:KeyPrefix"] = "shop",
        }).Build();

        var ex = Assert.Throws<CoherentConfigurationException>(() => T.Builder(T.Clock()).FromConfiguration(config.GetSection("Coherent")).Build());
        // Coherent.Redis reads 'Coherent:Redis' when WithRedis() is called; without it the section would do nothing.
        Assert.Contains(ex.Problems, p => p.Contains("'Coherent:Redis' is configured but the cache has no shared tier: call WithRedis()", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'Coherent:KeyPrefix' is not read", StringComparison.Ordinal) && p.Contains("'Coherent:Redis:KeyPrefix'", StringComparison.Ordinal));
        Assert.Equal(2, ex.Problems.Count);
    }
}
