using Coherent.SharedTier;

namespace Coherent.Tests;

/// <summary>
/// A decorator over a real tier (the in-memory one) for the bulk tests: counts single and batch reads, leases and stores;
/// optionally holds a batch read's answer until released, or throws from the batch read (injected faults).
/// </summary>
internal sealed class GatedTier(ISharedTierFactory inner) : ISharedTierFactory
{
    private ISharedTier? _tier;

    public bool Hold { get; init; }

    public bool Throw { get; init; }

    public TaskCompletionSource Read { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Batches;
    public int LastBatchSize;
    public int SingleReads;
    public int LeaseBatches;
    public int LastLeaseBatchSize;
    public int SingleLeases;
    public int StoreBatches;
    public int LastStoreBatchSize;
    public int SingleStores;
    public int Captures;

    /// <summary>When set, reading the tag and clear versions is cancelled (an injected fault: a tier being disposed).</summary>
    public bool CancelCaptures { get; set; }

    /// <summary>When set, the batch lease call throws (an injected fault).</summary>
    public bool ThrowOnLeases { get; set; }

    public void Validate(SharedTierContext context, ICollection<string> problems) => inner.Validate(context, problems);

    public ISharedTier Create(SharedTierContext context) => new Tier(this, _tier = inner.Create(context));

    private sealed class Tier(GatedTier owner, ISharedTier inner) : ISharedTier
    {
        public async ValueTask<IReadOnlyList<SharedTierRead>> ReadManyAsync(IReadOnlyList<SharedTierKey> keys, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref owner.Batches);
            owner.LastBatchSize = keys.Count;
            if (owner.Throw)
            {
                throw new IOException("the batch read failed");
            }

            var results = await inner.ReadManyAsync(keys, cancellationToken);
            owner.Read.TrySetResult();
            if (owner.Hold)
            {
                await owner.Release.Task;
            }

            return results;
        }

        public ValueTask<SharedTierRead> ReadAsync(SharedTierKey key, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref owner.SingleReads);
            return inner.ReadAsync(key, cancellationToken);
        }

        public void Start(ISharedTierHost host) => inner.Start(host);

        public ValueTask<SharedTierRead> LookupAsync(SharedTierKey key, CancellationToken cancellationToken) => inner.LookupAsync(key, cancellationToken);

        public ValueTask<bool> StoreIfEpochAsync(SharedTierKey key, SharedTierEntry entry, long expectedEpoch, SharedTierLease? lease, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref owner.SingleStores);
            return inner.StoreIfEpochAsync(key, entry, expectedEpoch, lease, cancellationToken);
        }

        public ValueTask<IReadOnlyList<bool>> StoreManyIfEpochAsync(IReadOnlyList<SharedTierFill> fills, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref owner.StoreBatches);
            owner.LastStoreBatchSize = fills.Count;
            return inner.StoreManyIfEpochAsync(fills, cancellationToken);
        }

        public ValueTask<SharedTierVersions> CaptureVersionsAsync(IReadOnlyList<string>? tags, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref owner.Captures);
            return owner.CancelCaptures
                ? ValueTask.FromException<SharedTierVersions>(new OperationCanceledException("the versions' read was cancelled"))
                : inner.CaptureVersionsAsync(tags, cancellationToken);
        }

        public ValueTask<long> SetAsync(SharedTierKey key, SharedTierEntry entry, CancellationToken cancellationToken) => inner.SetAsync(key, entry, cancellationToken);

        public ValueTask InvalidateAsync(SharedTierKey key, CancellationToken cancellationToken) => inner.InvalidateAsync(key, cancellationToken);

        public ValueTask InvalidateTagAsync(string tag, CancellationToken cancellationToken) => inner.InvalidateTagAsync(tag, cancellationToken);

        public ValueTask ClearAsync(CancellationToken cancellationToken) => inner.ClearAsync(cancellationToken);

        public ValueTask<SharedTierLease?> TryAcquireLeaseAsync(string key, TimeSpan leaseTime, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref owner.SingleLeases);
            return inner.TryAcquireLeaseAsync(key, leaseTime, cancellationToken);
        }

        public ValueTask<IReadOnlyList<SharedTierLease?>> TryAcquireLeasesAsync(IReadOnlyList<string> keys, TimeSpan leaseTime, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref owner.LeaseBatches);
            owner.LastLeaseBatchSize = keys.Count;
            return owner.ThrowOnLeases
                ? ValueTask.FromException<IReadOnlyList<SharedTierLease?>>(new IOException("the batch lease failed"))
                : inner.TryAcquireLeasesAsync(keys, leaseTime, cancellationToken);
        }

        public ValueTask ReleaseLeaseAsync(SharedTierLease lease, CancellationToken cancellationToken) => inner.ReleaseLeaseAsync(lease, cancellationToken);

        public ValueTask<bool> WaitForFillAsync(string key, TimeSpan timeout, CancellationToken cancellationToken) => inner.WaitForFillAsync(key, timeout, cancellationToken);

        public SharedTierGuarantees Guarantees => inner.Guarantees;

        public SharedTierState State => inner.State;

        public long PendingInvalidations => inner.PendingInvalidations;

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
