using StackExchange.Redis;

namespace Coherent.Testing;

/// <summary>Connection options and admin commands against one Redis server, over a short-lived connection.</summary>
public static class RedisAdmin
{
    public static async Task<RedisResult> ExecAsync(string endpoint, string command, params object[] args)
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync(Options(endpoint, allowAdmin: true));
        return await admin.GetServer(endpoint).ExecuteAsync(command, args);
    }

    /// <summary>
    /// The connection options the proof and the test fixtures use: RESP2 (a separate subscription connection, as CLIENT KILL
    /// TYPE pubsub expects), short timeouts, loopback.
    /// </summary>
    public static ConfigurationOptions Options(string endpoints, bool allowAdmin = false, string? user = null, string? password = null)
    {
        var options = ConfigurationOptions.Parse(endpoints);
        options.AbortOnConnectFail = false;
        options.AllowAdmin = allowAdmin;
        options.ConnectTimeout = 2000;
        options.AsyncTimeout = 1000;
        options.SyncTimeout = 1000;
        options.ConnectRetry = 1;
        options.ReconnectRetryPolicy = new LinearRetry(100);
        options.Protocol = RedisProtocol.Resp2;
        options.User = user;
        options.Password = password;
        return options;
    }

    /// <summary>A connection with <see cref="Options"/>.</summary>
    public static Task<ConnectionMultiplexer> ConnectAsync(string endpoints, bool allowAdmin = false, string? user = null, string? password = null) =>
        ConnectionMultiplexer.ConnectAsync(Options(endpoints, allowAdmin, user, password));
}
