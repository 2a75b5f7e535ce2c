using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>Item 2 of issue 16: HybridCacheOptions and per-call HybridCacheEntryOptions.</summary>
public sealed partial class HybridCacheConformanceTests
{
    /// <summary>Runs the factory (counting) through GetOrCreateAsync with the given options; returns what the caller got.</summary>
    private sealed class Counter(HybridCache hybrid)
    {
        public int Runs { get; private set; }

        public async Task<int> Get(string key, HybridCacheEntryOptions? options = null) =>
            await hybrid.GetOrCreateAsync(key, _ => ValueTask.FromResult(++Runs), options, cancellationToken: T.Ct);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_per_call_Expiration_longer_than_five_minutes_is_kept_not_shortened(string impl)
    {
        var time = T.Clock();
        await using var provider = Create(impl, time: time);
        var counter = new Counter(provider.GetRequiredService<HybridCache>());
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(30) };

        Assert.Equal(1, await counter.Get("long", options));
        time.Advance(TimeSpan.FromMinutes(20));
        Assert.Equal(1, await counter.Get("long", options));
        time.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(2, await counter.Get("long", options));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_per_call_LocalCacheExpiration_ends_the_local_copy_before_the_Expiration(string impl)
    {
        var time = T.Clock();
        await using var provider = Create(impl, time: time);
        var counter = new Counter(provider.GetRequiredService<HybridCache>());
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(10), LocalCacheExpiration = TimeSpan.FromMinutes(1) };

        Assert.Equal(1, await counter.Get("local", options));
        time.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal(1, await counter.Get("local", options));
        time.Advance(TimeSpan.FromSeconds(20)); // no shared tier on either: past the local copy is a miss
        Assert.Equal(2, await counter.Get("local", options));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task The_default_entry_options_expiration_applies_to_calls_that_give_none(string impl)
    {
        var time = T.Clock();
        await using var provider = Create(impl, time: time,
            options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = TimeSpan.FromHours(1) });
        var counter = new Counter(provider.GetRequiredService<HybridCache>());

        Assert.Equal(1, await counter.Get("defaulted"));
        time.Advance(TimeSpan.FromMinutes(50));
        Assert.Equal(1, await counter.Get("defaulted"));
        time.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(2, await counter.Get("defaulted"));

        // A call's own expiration wins over the default.
        Assert.Equal(3, await counter.Get("short", new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(2) }));
        time.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal(4, await counter.Get("short", new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(2) }));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task The_default_entry_options_local_expiration_applies_to_calls_that_give_none(string impl)
    {
        var time = T.Clock();
        await using var provider = Create(impl, time: time, options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions
        {
            Expiration = TimeSpan.FromHours(1),
            LocalCacheExpiration = TimeSpan.FromMinutes(2),
        });
        var counter = new Counter(provider.GetRequiredService<HybridCache>());

        Assert.Equal(1, await counter.Get("defaulted-local"));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await counter.Get("defaulted-local"));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(2, await counter.Get("defaulted-local"));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_default_local_expiration_given_alone_applies_to_calls_that_give_none(string impl)
    {
        var time = T.Clock();
        await using var provider = Create(impl, time: time,
            options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions { LocalCacheExpiration = TimeSpan.FromMinutes(2) });
        var counter = new Counter(provider.GetRequiredService<HybridCache>());

        Assert.Equal(1, await counter.Get("local-only-default"));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await counter.Get("local-only-default"));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(2, await counter.Get("local-only-default"));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task Default_flags_apply_to_calls_without_flags_and_a_calls_own_flags_replace_them(string impl)
    {
        await using var provider = Create(impl, options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions
        {
            Flags = HybridCacheEntryFlags.DisableLocalCache,
        });
        var counter = new Counter(provider.GetRequiredService<HybridCache>());

        // No shared tier and no local cache: nothing is kept.
        Assert.Equal(1, await counter.Get("flagged"));
        Assert.Equal(2, await counter.Get("flagged"));

        var none = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.None };
        Assert.Equal(3, await counter.Get("unflagged", none));
        Assert.Equal(3, await counter.Get("unflagged", none));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task MaximumKeyLength_from_the_options_decides_which_keys_are_cached(string impl)
    {
        await using var provider = Create(impl, options: o => o.MaximumKeyLength = 2000);
        var counter = new Counter(provider.GetRequiredService<HybridCache>());

        var longer = new string('a', 1500); // over the default 1024, within the configured limit
        Assert.Equal(1, await counter.Get(longer));
        Assert.Equal(1, await counter.Get(longer));
        var over = new string('b', 2001);
        Assert.Equal(2, await counter.Get(over));
        Assert.Equal(3, await counter.Get(over));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_smaller_MaximumKeyLength_stops_caching_keys_over_it(string impl)
    {
        await using var provider = Create(impl, options: o => o.MaximumKeyLength = 8);
        var counter = new Counter(provider.GetRequiredService<HybridCache>());

        Assert.Equal(1, await counter.Get("12345678"));
        Assert.Equal(1, await counter.Get("12345678"));
        Assert.Equal(2, await counter.Get("123456789"));
        Assert.Equal(3, await counter.Get("123456789"));
    }

    // A difference (guide): HybridCache returns an oversized value and keeps it locally (observed, 10.11: the limit guards
    // its distributed write); Coherent refuses to store it and the call fails with a typed error.
    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_mutable_value_over_MaximumPayloadBytes_is_kept_locally_by_HybridCache_and_refused_by_Coherent(string impl)
    {
        await using var provider = Create(impl, options: o => o.MaximumPayloadBytes = 64);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var runs = 0;
        ValueTask<MutableBox[]> Load(CancellationToken _)
        {
            runs++;
            return ValueTask.FromResult(Enumerable.Range(0, 50).Select(i => new MutableBox { Value = i }).ToArray());
        }

        if (impl == Coherent)
        {
            await Assert.ThrowsAsync<PayloadTooLargeException>(async () => await hybrid.GetOrCreateAsync("big", Load, cancellationToken: T.Ct));
            return;
        }

        Assert.Equal(50, (await hybrid.GetOrCreateAsync("big", Load, cancellationToken: T.Ct)).Length);
        Assert.Equal(50, (await hybrid.GetOrCreateAsync("big", Load, cancellationToken: T.Ct)).Length);
        Assert.Equal(1, runs);
    }
}
