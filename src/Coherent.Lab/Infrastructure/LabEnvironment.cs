namespace Coherent.Lab.Infrastructure;

/// <summary>
/// What every scenario runs on: the options, a fresh SQLite file per run, and nodes — each its own
/// <see cref="CoherentCache"/> with its own connection to the shared Redis (embedded Garnet unless --redis is given).
/// </summary>
internal sealed class LabEnvironment : IAsyncDisposable
{
    private readonly string _directory;
    private readonly IAsyncDisposable? _server;
    private int _dbCounter;
    private int _runCounter;

    private LabEnvironment(LabOptions options, string? endpoint, IAsyncDisposable? server, string description, TextWriter output)
    {
        Options = options;
        Endpoint = endpoint;
        _server = server;
        Description = description;
        Output = output;
        _directory = Path.Combine(Path.GetTempPath(), "coherent-lab-" + Environment.ProcessId);
        Directory.CreateDirectory(_directory);
    }

    public LabOptions Options { get; }

    /// <summary>host:port of the shared Redis, or null when none could be started (scenarios then run L1-only strategies).</summary>
    public string? Endpoint { get; }

    /// <summary>The Memcached servers given with --memcached, or null: then shared nodes use Redis.</summary>
    public string? Memcached => Options.Memcached;

    public string Description { get; }

    public TextWriter Output { get; }

    public static async Task<LabEnvironment> StartAsync(LabOptions options, TextWriter output)
    {
        var memcached = options.Memcached is { } servers ? $"; shared nodes on Memcached at {servers}" : "";
        if (options.Redis is { } redis)
        {
            return new LabEnvironment(options, redis, null, $"Redis at {redis}, {options.Nodes} nodes{memcached}", output);
        }

        output.WriteLine("Starting embedded Garnet server...");
        var (server, endpoint, description) = await SharedTier.StartEmbeddedAsync();
        return new LabEnvironment(options, endpoint, server, $"{description}, {options.Nodes} nodes{memcached}", output);
    }

    /// <summary>
    /// Starts a new run: nodes built from now on use a fresh key prefix, so a run never sees what an earlier one left in
    /// the shared Redis (each run also has a fresh database).
    /// </summary>
    public void BeginRun() => Interlocked.Increment(ref _runCounter);

    public Products NewDatabase(int products)
    {
        BeginRun();
        return Products.Create(Path.Combine(_directory, $"lab-{Interlocked.Increment(ref _dbCounter)}.db"), products);
    }

    /// <summary>
    /// Builds a node; with <paramref name="shared"/> it gets the shared tier on its own connection: Memcached when --memcached
    /// was given (L2 and leases, no bus; <paramref name="redis"/> does not apply), else Redis (L2, bus, leases).
    /// <paramref name="backend"/> picks one explicitly (the side-by-side scenario).
    /// </summary>
    public CoherentCache NewNode(string name, Action<CoherentCacheBuilder> configure, bool shared, Action<CoherentRedisOptions>? redis = null, SharedBackend? backend = null)
    {
        var builder = new CoherentCacheBuilder().WithName(name);
        configure(builder);
        if (shared)
        {
            var prefix = $"lab-{Environment.ProcessId}-{Volatile.Read(ref _runCounter)}";
            if ((backend ?? (Memcached is null ? SharedBackend.Redis : SharedBackend.Memcached)) == SharedBackend.Memcached)
            {
                SharedTier.AttachMemcached(builder, Memcached ?? throw new InvalidOperationException("No Memcached given (--memcached)."), prefix);
            }
            else
            {
                SharedTier.Attach(builder, Endpoint ?? throw new InvalidOperationException("No shared Redis available."), prefix, redis);
            }
        }

        return builder.Build();
    }

    public void Progress(string message) => Output.WriteLine($"   [{DateTime.Now:HH:mm:ss}] {message}");

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A SQLite file still open by a pooled connection: the temp folder is cleaned up by the OS.
        }
    }
}

/// <summary>Which shared tier a lab node uses.</summary>
internal enum SharedBackend
{
    Redis,
    Memcached,
}
