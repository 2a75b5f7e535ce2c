using System.Runtime.CompilerServices;
using Coherent.SharedTier;

namespace Coherent.Tests;

/// <summary>The public shared-tier contract: what a backend package can rely on, checked from the engine's side.</summary>
public sealed class SharedTierContractTests
{
    [Fact]
    public void No_backend_package_sees_the_cores_internals()
    {
        // A backend compiled against internals is a fork of the engine, not an implementation of the contract.
        var friends = typeof(CoherentCache).Assembly.GetCustomAttributes(typeof(InternalsVisibleToAttribute), false)
            .Cast<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).ToList();
        // Test projects, the benchmarks and the test harness only: never a package an application installs.
        Assert.DoesNotContain(friends, f => !f.EndsWith(".Tests", StringComparison.Ordinal) && f is not ("Coherent.Benchmarks" or "Coherent.Testing"));
        Assert.DoesNotContain("Coherent.Redis", friends);
        Assert.DoesNotContain("Coherent.Memcached", friends);
    }

    [Fact]
    public void A_read_nobody_filled_in_is_unavailable_and_carries_no_epoch()
    {
        var read = default(SharedTierRead);
        Assert.Equal(SharedTierReadStatus.Unavailable, read.Status);
        Assert.False(read.Found);
        Assert.False(read.HasEpoch);
        Assert.Throws<InvalidOperationException>(() => read.Epoch);
        Assert.False(SharedTierRead.MissWithoutEpoch.HasEpoch);
        Assert.Equal(7, SharedTierRead.Miss(7).Epoch);
        var entry = new SharedTierEntry { Payload = new byte[] { 1 }, Epoch = 9 };
        Assert.Equal(9, SharedTierRead.Hit(entry).Epoch);
        Assert.Same(entry, SharedTierRead.Hit(entry).Entry);
    }

    [Fact]
    public void A_backends_problems_are_listed_with_the_cores_in_one_exception()
    {
        var factory = new RecordingFactory { Problem = "Backend: no server named." };
        var builder = new CoherentCacheBuilder()
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(-1)))
            .WithSharedTier(factory);

        var error = Assert.Throws<CoherentConfigurationException>(() => builder.Build());
        Assert.Contains(error.Problems, p => p.Contains("Backend: no server named.", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("price", StringComparison.Ordinal));
        Assert.Equal(0, factory.Created); // nothing is created when anything was reported
    }

    [Fact]
    public async Task A_backend_is_told_the_families_and_gets_keys_with_the_family_the_engine_resolved()
    {
        var factory = new RecordingFactory();
        await using var cache = new CoherentCacheBuilder()
            .Define("price", p => p.MaxStaleness(TimeSpan.FromSeconds(5)).Ttl(TimeSpan.FromMinutes(10)))
            .WithName("contract")
            .WithSharedTier(factory)
            .Build();

        Assert.Equal(1, factory.Created);
        var context = factory.Context!;
        Assert.Equal("contract", context.CacheName);
        Assert.False(context.IsKeyed);
        Assert.Equal([new SharedTierFamily("price", TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(10)), context.Families[^1]], context.Families);
        Assert.Equal(SharedTierFamily.DefaultName, context.Families[^1].Name);
        Assert.Same(cache, factory.Tier.Host);

        Assert.Equal(42, await cache.GetOrSetAsync("price:1", _ => ValueTask.FromResult(42), cancellationToken: T.Ct));
        await cache.InvalidateAsync("price:1", T.Ct);
        Assert.Equal([new SharedTierKey("price:1", "price")], factory.Tier.Reads);
        Assert.Equal([new SharedTierKey("price:1", "price")], factory.Tier.Invalidations);
        Assert.Equal(SharedTierState.Healthy, cache.SharedTierState);
    }

    [Fact]
    public async Task A_lease_taken_before_a_failed_version_capture_is_handed_back()
    {
        // The fill cannot be stamped, so it stays local: the lease taken for it must go back to the fleet's waiters, not
        // be held until it expires (they would wait up to its whole time for a fill that never comes).
        var factory = new RecordingFactory();
        factory.Tier.CaptureFails = true;
        await using var cache = new CoherentCacheBuilder().WithName("capture").WithSharedTier(factory).Build();

        Assert.Equal(42, await cache.GetOrSetAsync("price:1", _ => ValueTask.FromResult(42), cancellationToken: T.Ct));
        await T.Until(() => cache.Diagnostics.FlightCount == 0, "flight finished");
        Assert.Equal(["price:1"], factory.Tier.Released.Select(l => l.Key));
        Assert.Empty(factory.Tier.Stored);
    }

    /// <summary>A contract-level stand-in: a backend that is always reachable and never holds anything.</summary>
    private sealed class RecordingFactory : ISharedTierFactory
    {
        public string? Problem { get; init; }

        public int Created { get; private set; }

        public SharedTierContext? Context { get; private set; }

        public EmptyTier Tier { get; } = new();

        public void Validate(SharedTierContext context, ICollection<string> problems)
        {
            if (Problem is not null)
            {
                problems.Add(Problem);
            }
        }

        public ISharedTier Create(SharedTierContext context)
        {
            Created++;
            Context = context;
            return Tier;
        }
    }

    private sealed class EmptyTier : ISharedTier
    {
        private long _epoch = 1;

        public ISharedTierHost? Host { get; private set; }

        public List<SharedTierKey> Reads { get; } = [];

        public List<SharedTierKey> Invalidations { get; } = [];

        public List<SharedTierLease> Released { get; } = [];

        public List<SharedTierKey> Stored { get; } = [];

        /// <summary>An injected fault: reading the versions for a fill fails (the tier went away after the lease).</summary>
        public bool CaptureFails { get; set; }

        public SharedTierGuarantees Guarantees => SharedTierGuarantees.All;

        public SharedTierState State => SharedTierState.Healthy;

        public long PendingInvalidations => 0;

        public void Start(ISharedTierHost host) => Host = host;

        public ValueTask<SharedTierRead> ReadAsync(SharedTierKey key, CancellationToken cancellationToken)
        {
            Reads.Add(key);
            return ValueTask.FromResult(SharedTierRead.Miss(_epoch));
        }

        public ValueTask<SharedTierRead> LookupAsync(SharedTierKey key, CancellationToken cancellationToken) => ValueTask.FromResult(SharedTierRead.MissWithoutEpoch);

        public ValueTask<bool> StoreIfEpochAsync(SharedTierKey key, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease, CancellationToken cancellationToken)
        {
            Stored.Add(key);
            return ValueTask.FromResult(expectedEpoch == _epoch);
        }

        public ValueTask<SharedTierVersions> CaptureVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken) => CaptureFails
            ? ValueTask.FromException<SharedTierVersions>(new SharedTierUnavailableProbe())
            : ValueTask.FromResult(new SharedTierVersions(0, null));

        public ValueTask<long> SetAsync(SharedTierKey key, SharedTierEntry entry, CancellationToken cancellationToken) => ValueTask.FromResult(++_epoch);

        public ValueTask InvalidateAsync(SharedTierKey key, CancellationToken cancellationToken)
        {
            Invalidations.Add(key);
            _epoch++;
            return ValueTask.CompletedTask;
        }

        public ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask ClearAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken) =>
            ValueTask.FromResult<SharedTierLease?>(new SharedTierLease(key, "t", _epoch));

        public ValueTask ReleaseLeaseAsync(SharedTierLease lease, CancellationToken cancellationToken)
        {
            Released.Add(lease);
            return ValueTask.CompletedTask;
        }

        public ValueTask<bool> WaitForFillAsync(string key, TimeSpan timeout, CancellationToken cancellationToken) => ValueTask.FromResult(false);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>What the stand-in tier throws for an injected storage fault.</summary>
internal sealed class SharedTierUnavailableProbe() : Exception("injected: the shared tier is unreachable");
