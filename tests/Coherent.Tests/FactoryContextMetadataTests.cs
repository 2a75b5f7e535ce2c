using Coherent.InMemory;
using Coherent.SharedTier;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>Metadata beside the value (issue 15, part 1): an ETag the factory stores and sees again on the next computation.</summary>
public sealed class FactoryContextMetadataTests
{
    private static readonly TimeSpan Ttl = FactoryContextTests.Ttl;

    private static CoherentCache Node(FakeTimeProvider time, InMemorySharedTierHub hub, string name) => FactoryContextTests.Node(time, hub, name);

    /// <summary>A source with an ETag: "not modified" when asked with the current one.</summary>
    private sealed class Source
    {
        public string ETag { get; set; } = "\"1\"";

        public string Body { get; set; } = "body 1";

        public int FullReads { get; private set; }

        public int NotModified { get; private set; }

        public ValueTask<string> FetchAsync(CacheFactoryContext<string> context, CancellationToken _)
        {
            if (context.HasPrevious && context.PreviousMetadata == ETag)
            {
                NotModified++;
                context.Metadata = ETag; // fresh metadata, kept value
                return ValueTask.FromResult(context.PreviousValue!);
            }

            FullReads++;
            context.Metadata = ETag;
            return ValueTask.FromResult(Body);
        }
    }

    [Fact]
    public async Task A_not_modified_answer_keeps_the_previous_value_with_its_metadata_as_a_new_fill()
    {
        var time = T.Clock();
        await using var cache = Node(time, new InMemorySharedTierHub(), "etag");
        var source = new Source();
        Assert.Equal("body 1", await cache.GetOrSetAsync<string>("page:1", source.FetchAsync, cancellationToken: T.Ct));

        time.Advance(Ttl + TimeSpan.FromSeconds(1));
        Assert.Equal("body 1", await cache.GetOrSetAsync<string>("page:1", source.FetchAsync, cancellationToken: T.Ct));
        Assert.Equal((1, 1), (source.FullReads, source.NotModified));

        time.Advance(Ttl - TimeSpan.FromSeconds(1)); // fresh from the check
        Assert.Equal("body 1", await cache.GetOrSetAsync<string>("page:1", source.FetchAsync, cancellationToken: T.Ct));
        Assert.Equal((1, 1), (source.FullReads, source.NotModified));

        (source.ETag, source.Body) = ("\"2\"", "body 2");
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("body 2", await cache.GetOrSetAsync<string>("page:1", source.FetchAsync, cancellationToken: T.Ct));
        Assert.Equal((2, 1), (source.FullReads, source.NotModified));
    }

    [Fact]
    public async Task Metadata_travels_through_the_shared_tier_to_a_node_that_never_computed_the_value()
    {
        var time = T.Clock();
        var hub = new InMemorySharedTierHub();
        await using var a = Node(time, hub, "a");
        await using var b = Node(time, hub, "b");
        var source = new Source();
        Assert.Equal("body 1", await a.GetOrSetAsync<string>("page:2", source.FetchAsync, cancellationToken: T.Ct));

        Assert.Equal("body 1", await b.GetOrSetAsync<string>("page:2", source.FetchAsync, cancellationToken: T.Ct)); // an L2 hit
        time.Advance(Ttl + TimeSpan.FromSeconds(1));
        string? seen = null;
        Assert.Equal("body 1", await b.GetOrSetAsync<string>("page:2", (context, ct) =>
        {
            seen = context.PreviousMetadata;
            return source.FetchAsync(context, ct);
        }, cancellationToken: T.Ct));
        Assert.Equal("\"1\"", seen);
        Assert.Equal((1, 1), (source.FullReads, source.NotModified));
    }

    [Fact]
    public async Task Metadata_is_not_carried_over_unless_the_factory_sets_it_again()
    {
        var time = T.Clock();
        await using var cache = Node(time, new InMemorySharedTierHub(), "carry");
        await cache.GetOrSetAsync<string>("page:3", (context, _) => { context.Metadata = "m1"; return ValueTask.FromResult("v1"); }, cancellationToken: T.Ct);
        time.Advance(Ttl + TimeSpan.FromSeconds(1));
        await cache.GetOrSetAsync<string>("page:3", (context, _) =>
        {
            Assert.Equal("m1", context.PreviousMetadata);
            Assert.Null(context.Metadata);
            return ValueTask.FromResult("v2");
        }, cancellationToken: T.Ct);
        time.Advance(Ttl + TimeSpan.FromSeconds(1));
        await cache.GetOrSetAsync<string>("page:3", (context, _) =>
        {
            Assert.Equal("v2", context.PreviousValue);
            Assert.Null(context.PreviousMetadata);
            return ValueTask.FromResult("v3");
        }, cancellationToken: T.Ct);
    }

    [Fact]
    public async Task Metadata_over_4_KB_is_refused_with_its_size_and_nothing_is_cached()
    {
        var time = T.Clock();
        await using var cache = Node(time, new InMemorySharedTierHub(), "big");
        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await cache.GetOrSetAsync<string>("page:4", (context, _) =>
        {
            context.Metadata = new string('é', 2049); // 4,098 UTF-8 bytes
            return ValueTask.FromResult("v");
        }, cancellationToken: T.Ct));
        Assert.Contains("'page:4'", ex.Message);
        Assert.Contains("4098", ex.Message);
        Assert.False((await cache.TryGetAsync<string>("page:4", T.Ct)).Found);
    }

    [Fact]
    public void An_envelope_carries_metadata_under_its_MAC_and_one_written_without_it_reads_as_before()
    {
        var key = "page:5";
        var signing = new byte[32];
        var data = new SharedTierEnvelopeData(1, 2, 3, 4.5, 6, [("t", 7)], new byte[] { 1, 2, 3 });
        var withMetadata = SharedTierEnvelope.Write(key, data with { Metadata = "\"etag\"" }, signing);
        Assert.Equal(SharedTierEnvelopeRejection.None, SharedTierEnvelope.TryRead(key, withMetadata, signing, 1000, out var read));
        Assert.Equal("\"etag\"", read.Metadata);
        Assert.Equal(new byte[] { 1, 2, 3 }, read.Payload.ToArray());
        Assert.Equal(("t", 7L), read.Tags![0]);

        // The metadata is under the signature: a changed byte of it is refused.
        var tampered = (byte[])withMetadata.Clone();
        tampered[Array.IndexOf(tampered, (byte)'e', 60)] ^= 1;
        Assert.Equal(SharedTierEnvelopeRejection.Unsigned, SharedTierEnvelope.TryRead(key, tampered, signing, 1000, out _));

        // Without metadata the bytes are the format as it was (no flag, no field): older envelopes read unchanged.
        var without = SharedTierEnvelope.Write(key, data, null);
        Assert.Equal(0, without[3]);
        Assert.Equal(54 + (2 + 1 + 8) + 4 + 3, without.Length);
        Assert.Equal(SharedTierEnvelopeRejection.None, SharedTierEnvelope.TryRead(key, without, null, 1000, out var plain));
        Assert.Null(plain.Metadata);
        Assert.Equal(new byte[] { 1, 2, 3 }, plain.Payload.ToArray());
    }
}
