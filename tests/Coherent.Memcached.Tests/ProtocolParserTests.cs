using System.Buffers;
using System.Text;
using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Tests;

public sealed class ProtocolParserTests
{
    [Theory]
    [InlineData("HD O5\r\n", nameof(MetaStatus.Header))]
    [InlineData("EN O5\r\n", nameof(MetaStatus.Miss))]
    [InlineData("NS O5\r\n", nameof(MetaStatus.NotStored))]
    [InlineData("EX O5\r\n", nameof(MetaStatus.Exists))]
    [InlineData("NF O5\r\n", nameof(MetaStatus.NotFound))]
    [InlineData("MN\r\n", nameof(MetaStatus.NoOp))]
    [InlineData("CLIENT_ERROR bad data chunk\r\n", nameof(MetaStatus.ClientError))]
    [InlineData("SERVER_ERROR out of memory storing object\r\n", nameof(MetaStatus.ServerError))]
    [InlineData("ERROR\r\n", nameof(MetaStatus.Error))]
    public void Every_status_line_parses_to_its_kind(string wire, string kind)
    {
        var expected = Enum.Parse<MetaStatus>(kind);
        var response = Parse(wire);

        Assert.Equal(expected, response.Status);
        Assert.Equal(expected is MetaStatus.ClientError or MetaStatus.ServerError or MetaStatus.Error, response.IsError);
        if (expected is MetaStatus.ClientError or MetaStatus.ServerError)
        {
            Assert.Equal(wire[(wire.IndexOf(' ') + 1)..^2], response.ErrorMessage);
        }
    }

    [Fact]
    public void A_value_response_carries_its_value_and_every_return_flag()
    {
        var response = Parse("VA 5 c42 t-1 s5 O7 W X Z f0 b\r\nh\r\nlo\r\n");

        Assert.Equal(MetaStatus.Value, response.Status);
        Assert.Equal("h\r\nlo", Encoding.ASCII.GetString(response.Value!));
        Assert.Equal(42UL, response.Cas);
        Assert.Equal(-1L, response.Ttl);
        Assert.Equal(5L, response.Size);
        Assert.Equal(7U, response.Opaque);
        Assert.True(response.Win && response.Stale && response.AlreadyWon);
    }

    [Fact]
    public void A_response_cut_anywhere_waits_for_the_rest()
    {
        var wire = Encoding.ASCII.GetBytes("VA 3 c9 O1 W\r\nabc\r\n");
        for (var cut = 0; cut < wire.Length; cut++)
        {
            Assert.False(MetaResponseParser.TryParse(new ReadOnlySequence<byte>(wire, 0, cut), 1024, out _, out _), $"parsed with {cut} bytes");
        }

        Assert.True(MetaResponseParser.TryParse(new ReadOnlySequence<byte>(wire), 1024, out var response, out var consumed));
        Assert.Equal("abc", Encoding.ASCII.GetString(response!.Value!));
        Assert.Equal(wire.Length, new ReadOnlySequence<byte>(wire).Slice(0, consumed).Length);
    }

    [Fact]
    public void Two_responses_back_to_back_parse_one_at_a_time()
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("HD O1\r\nVA 1 O2\r\nx\r\n"));

        Assert.True(MetaResponseParser.TryParse(buffer, 1024, out var first, out var consumed));
        Assert.True(MetaResponseParser.TryParse(buffer.Slice(consumed), 1024, out var second, out _));
        Assert.Equal((MetaStatus.Header, 1U), (first!.Status, first.Opaque!.Value));
        Assert.Equal((MetaStatus.Value, 2U), (second!.Status, second.Opaque!.Value));
    }

    [Theory]
    [InlineData("WAT O1\r\n")]
    [InlineData("HD O1\n")]
    [InlineData("VA x O1\r\nab\r\n")]
    [InlineData("VA 2 O1\r\nabXY")]
    [InlineData("VA 2000 O1\r\n")]
    [InlineData("HD cNOTANUMBER\r\n")]
    [InlineData("HD O99999999999\r\n")]
    public void A_malformed_response_is_a_desync(string wire) =>
        Assert.Throws<ProtocolDesyncException>(() => Parse(wire, maxValue: 1024));

    [Fact]
    public void A_line_too_long_to_be_a_response_is_a_desync_even_before_it_ends()
    {
        var wire = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("HD " + new string('c', MetaResponseParser.MaxLineBytes)));

        Assert.Throws<ProtocolDesyncException>(() => MetaResponseParser.TryParse(wire, 1024, out _, out _));
    }

    [Fact]
    public void A_request_is_written_with_the_base64_flag_its_tokens_and_its_opaque()
    {
        var key = MemcachedKey.ToBase64("a b"u8);
        var get = new MetaRequest(MetaVerb.Get, key, MetaRequestFlags.ReturnValue | MetaRequestFlags.ReturnCas | MetaRequestFlags.Vivify | MetaRequestFlags.Quiet, VivifyTtl: 30);
        var set = new MetaRequest(MetaVerb.Set, key, MetaRequestFlags.CompareCas | MetaRequestFlags.SetTtl, "hi"u8.ToArray(), Cas: 12, Ttl: 60);
        var add = new MetaRequest(MetaVerb.Arithmetic, key, MetaRequestFlags.Vivify | MetaRequestFlags.Initial | MetaRequestFlags.ReturnValue, Initial: 1000);

        Assert.Equal("mg YSBi b v c q N30 O7\r\n", Write(get, 7));
        Assert.Equal("ms YSBi 2 b C12 T60 O8\r\nhi\r\n", Write(set, 8));
        Assert.Equal("ma YSBi b v N0 J1000 O9\r\n", Write(add, 9));
        Assert.Equal("mn\r\n", Write(MetaRequest.NoOp, 0));
    }

    private static string Write(MetaRequest request, uint opaque)
    {
        var buffer = new ArrayBufferWriter<byte>();
        request.WriteTo(buffer, opaque);
        return Encoding.ASCII.GetString(buffer.WrittenSpan);
    }

    private static MetaResponse Parse(string wire, long maxValue = 1 << 20)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(wire));
        Assert.True(MetaResponseParser.TryParse(buffer, maxValue, out var response, out var consumed));
        Assert.Equal(buffer.Length, buffer.Slice(0, consumed).Length);
        return response!;
    }
}
