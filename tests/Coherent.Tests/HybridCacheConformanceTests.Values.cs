using System.ComponentModel;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Coherent.Tests;

/// <summary>Item 1 of issue 16: which values callers share, by HybridCache's per-type rule.</summary>
public sealed partial class HybridCacheConformanceTests
{
    public sealed class MutableBox
    {
        public int Value { get; set; }
    }

    /// <summary>Marked immutable, but not sealed: a subclass could be mutable, so HybridCache does not trust the mark.</summary>
    [ImmutableObject(true)]
    public class UnsealedMarked
    {
        public int Value { get; set; }
    }

    [ImmutableObject(true)]
    public sealed class SealedMarked
    {
        public int Value { get; init; }
    }

    /// <summary>A record of immutable members, but neither marked nor sealed: treated as mutable.</summary>
    public record PlainRecord(int Value);

    [ImmutableObject(true)]
    public sealed record MarkedRecord(int Value);

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task Each_caller_of_a_mutable_type_gets_its_own_instance_and_changing_it_changes_nothing_cached(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();

        var first = await hybrid.GetOrCreateAsync("box", _ => ValueTask.FromResult(new MutableBox { Value = 1 }), cancellationToken: T.Ct);
        first.Value = 99; // the caller whose factory ran changes what it got
        var second = await hybrid.GetOrCreateAsync("box", _ => ValueTask.FromResult(new MutableBox { Value = 2 }), cancellationToken: T.Ct);
        var third = await hybrid.GetOrCreateAsync("box", _ => ValueTask.FromResult(new MutableBox { Value = 3 }), cancellationToken: T.Ct);

        Assert.Equal(1, second.Value);
        Assert.NotSame(first, second);
        Assert.NotSame(second, third);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task A_mutable_value_given_to_SetAsync_is_copied_so_later_changes_to_it_are_not_cached(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();
        var box = new MutableBox { Value = 1 };

        await hybrid.SetAsync("set-box", box, cancellationToken: T.Ct);
        box.Value = 42;
        var read = await hybrid.GetOrCreateAsync("set-box", _ => ValueTask.FromResult(new MutableBox { Value = 7 }), cancellationToken: T.Ct);

        Assert.Equal(1, read.Value);
        Assert.NotSame(box, read);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task Types_not_trusted_as_immutable_are_copied_per_call(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();

        Assert.NotSame(await Twice(hybrid, "unsealed", () => new UnsealedMarked { Value = 1 }), await Twice(hybrid, "unsealed", () => new UnsealedMarked()));
        Assert.NotSame(await Twice(hybrid, "record", () => new PlainRecord(1)), await Twice(hybrid, "record", () => new PlainRecord(2)));
        Assert.NotSame(await Twice(hybrid, "array", () => new[] { 1 }), await Twice(hybrid, "array", () => new[] { 2 }));
        Assert.Equal(1, (await Twice(hybrid, "record", () => new PlainRecord(2))).Value); // copied, still the cached value
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task Strings_and_sealed_types_marked_immutable_are_shared_without_a_copy(string impl)
    {
        await using var provider = Create(impl);
        var hybrid = provider.GetRequiredService<HybridCache>();

        Assert.Same(await Twice(hybrid, "sealed", () => new SealedMarked { Value = 1 }), await Twice(hybrid, "sealed", () => new SealedMarked()));
        Assert.Same(await Twice(hybrid, "marked-record", () => new MarkedRecord(1)), await Twice(hybrid, "marked-record", () => new MarkedRecord(2)));
        var text = new string('x', 3); // not interned: sameness means the cached instance itself
        Assert.Same(await Twice(hybrid, "text", () => text), await Twice(hybrid, "text", () => "other"));
    }

    private static async Task<TValue> Twice<TValue>(HybridCache hybrid, string key, Func<TValue> create) =>
        await hybrid.GetOrCreateAsync(key, _ => ValueTask.FromResult(create()), cancellationToken: T.Ct);
}
