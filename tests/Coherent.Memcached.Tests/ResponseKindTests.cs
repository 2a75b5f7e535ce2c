using Coherent.Memcached.Protocol;
using Coherent.Memcached.Tests.Infrastructure;
using static Coherent.Memcached.Tests.Infrastructure.Clients;

namespace Coherent.Memcached.Tests;

/// <summary>Each answer a real memcached gives, through one connection that must stay in step after every one of them.</summary>
public sealed class ResponseKindTests
{
    [Fact]
    public async Task Every_response_kind_from_a_real_server_is_parsed_and_the_connection_stays_usable()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var connection = await ConnectAsync(server);
        var key = Key("kinds");

        Assert.Equal(MetaStatus.Miss, (await connection.SendAsync(Get(key))).Status);
        Assert.Equal(MetaStatus.Header, (await connection.SendAsync(Set(key, "v1"))).Status);
        var hit = await connection.SendAsync(Get(key, MetaRequestFlags.ReturnTtl | MetaRequestFlags.ReturnSize));
        Assert.Equal((MetaStatus.Value, "v1"), (hit.Status, Text(hit)));
        Assert.True(hit.Cas > 0 && hit.Ttl is > 0 and <= 300 && hit.Size == 2, hit.ToString());
        Assert.Equal(MetaStatus.NotStored, (await connection.SendAsync(Set(key, "v2", MetaRequestFlags.AddOnly))).Status);
        Assert.Equal(MetaStatus.Exists, (await connection.SendAsync(Set(key, "v2", MetaRequestFlags.CompareCas, cas: hit.Cas!.Value + 1000))).Status);
        Assert.Equal(MetaStatus.NotFound, (await connection.SendAsync(new MetaRequest(MetaVerb.Delete, Key("absent"), MetaRequestFlags.None))).Status);
        Assert.Equal(MetaStatus.NoOp, (await connection.SendAsync(MetaRequest.NoOp)).Status);

        var clientError = await Assert.ThrowsAsync<MemcachedServerErrorException>(() =>
            connection.SendAsync(new MetaRequest(MetaVerb.Arithmetic, key, MetaRequestFlags.ReturnValue)));
        Assert.Equal(MetaStatus.ClientError, clientError.Response.Status);
        Assert.Contains("non-numeric", clientError.Response.ErrorMessage, StringComparison.Ordinal);

        // Bigger than the server's item_size_max: the client layer sends it (the store refuses it earlier), the server says so
        // and swallows the data, and the next request on the same connection must get its own answer.
        var serverError = await Assert.ThrowsAsync<MemcachedServerErrorException>(() =>
            connection.SendAsync(Set(Key("huge"), new string('x', 2 * 1024 * 1024))));
        Assert.Equal(MetaStatus.ServerError, serverError.Response.Status);

        var after = await connection.SendAsync(Get(key));
        Assert.Equal("v1", Text(after));
        Assert.False(connection.IsBroken);
        Assert.Equal(0, connection.Outstanding);
    }

    [Fact]
    public async Task A_counter_is_created_at_its_initial_value_and_incremented()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var connection = await ConnectAsync(server);
        var vivify = new MetaRequest(MetaVerb.Arithmetic, Key("counter"), MetaRequestFlags.Vivify | MetaRequestFlags.Initial | MetaRequestFlags.ReturnValue, Initial: 40);

        Assert.Equal("40", Text(await connection.SendAsync(vivify)));
        Assert.Equal("41", Text(await connection.SendAsync(vivify)));
        Assert.Equal(MetaStatus.NotFound, (await connection.SendAsync(new MetaRequest(MetaVerb.Arithmetic, Key("no-counter"), MetaRequestFlags.None))).Status);
    }

    [Fact]
    public async Task A_batch_gives_quiet_requests_their_silent_answer_at_the_closing_mn()
    {
        await using var server = await MemcachedProcess.StartForTestAsync();
        await using var connection = await ConnectAsync(server);
        await connection.SendAsync(Set(Key("present"), "here"));

        var answers = await connection.SendBatchAsync(
        [
            Get(Key("absent"), MetaRequestFlags.Quiet),
            Get(Key("present"), MetaRequestFlags.Quiet),
            Set(Key("stored"), "new", MetaRequestFlags.Quiet),
            new MetaRequest(MetaVerb.Delete, Key("absent"), MetaRequestFlags.Quiet),
            Get(Key("stored")),
        ]);

        Assert.Equal([MetaStatus.Miss, MetaStatus.Value, MetaStatus.Header, MetaStatus.NotFound, MetaStatus.Value], answers.Select(a => a.Status));
        Assert.Equal("here", Text(answers[1]));
        Assert.Equal("new", Text(answers[4]));
        Assert.Equal(0, connection.Outstanding);
    }
}
