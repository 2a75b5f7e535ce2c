using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using Garnet;
using Garnet.server;
using Microsoft.Extensions.Logging;

namespace Coherent;

/// <summary>
/// An in-process Garnet server (Redis-compatible, Lua and pub/sub on, small memory settings, nothing persisted) for the lab,
/// samples and tests when no Redis is given. Listens on loopback only. Dispose to stop it.
/// </summary>
/// <example><code>
/// await using var garnet = EmbeddedGarnet.Start();
/// var cache = new CoherentCacheBuilder().WithRedis(garnet.ConnectionString).Build();
/// </code></example>
public sealed class EmbeddedGarnet : IDisposable, IAsyncDisposable
{
    private readonly GarnetServer _server;
    private int _disposed;

    private EmbeddedGarnet(GarnetServer server, IPEndPoint endPoint)
    {
        _server = server;
        EndPoint = endPoint;
    }

    /// <summary>Where the server listens (127.0.0.1 and the chosen port).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The port the server listens on.</summary>
    public int Port => EndPoint.Port;

    /// <summary>A StackExchange.Redis configuration string for this server, for <c>WithRedis(...)</c>.</summary>
    public string ConnectionString => $"127.0.0.1:{EndPoint.Port}";

    /// <summary>
    /// Starts a server on 127.0.0.1:<paramref name="port"/> (a free port when null) with a 64 MiB log, a small index and
    /// Lua scripting on.
    /// </summary>
    /// <param name="port">The port to listen on, or null for a free one.</param>
    /// <param name="memorySize">Main log memory; default <c>64m</c> (Garnet's own default is 16g).</param>
    /// <param name="loggerFactory">Where Garnet logs; default nowhere.</param>
    [RequiresUnreferencedCode("Garnet finds modules and custom commands by reflection and is not trimming-safe; EmbeddedGarnet is for labs, samples and tests.")]
    public static EmbeddedGarnet Start(int? port = null, string memorySize = "64m", ILoggerFactory? loggerFactory = null)
    {
        var chosen = port ?? FreePort();
        var endPoint = new IPEndPoint(IPAddress.Loopback, chosen);
        var options = new GarnetServerOptions
        {
            EndPoints = [endPoint],
            LogMemorySize = memorySize,
            PageSize = "1m",
            IndexMemorySize = "1m",
            EnableLua = true,
            LuaOptions = new LuaOptions(LuaMemoryManagementMode.Native, "", TimeSpan.FromSeconds(5), LuaLoggingMode.Enable, [], null),
            QuietMode = true,
            EnableStorageTier = false,
        };
        var server = new GarnetServer(options, loggerFactory);
        try
        {
            server.Start();
        }
        catch
        {
            server.Dispose();
            throw;
        }

        return new EmbeddedGarnet(server, endPoint);
    }

    /// <summary>Finds a free loopback TCP port.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Stops the server and frees its memory.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _server.Dispose();
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
