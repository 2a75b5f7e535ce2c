using Coherent.Engine;
using Coherent.Local;
using Coherent.SharedTier;

namespace Coherent.Stampede;

/// <summary>
/// The shared-tier stores of one batch factory round (<c>GetOrSetManyAsync</c>), sent as one call
/// (<see cref="ISharedTier.StoreManyIfEpochAsync"/>) instead of one a key. Every flight whose key the round computed is a
/// member: it either hands its store here (<see cref="StoreAsync"/>) or leaves (<see cref="Leave"/>: fenced locally, not to
/// be stored, failed, timed out). The batch leaves when the last member has done one or the other. Members got their values
/// at the same moment and wait on nothing but this round before storing, so no member waits on another's factory or lease.
/// Each store is still fenced on its own key's epoch by the tier, and judged by the gate before and after, as a single one.
/// </summary>
internal sealed class SharedStoreRound(SharedTierClient client)
{
    private readonly Lock _lock = new();
    private readonly List<Pending> _fills = [];
    private int _outstanding = 1; // the round's own hold until every member is registered (Seal)

    /// <summary>A member joins (before it can store or leave).</summary>
    public void Expect()
    {
        lock (_lock)
        {
            _outstanding++;
        }
    }

    /// <summary>Every member is registered: the round's own hold ends.</summary>
    public void Seal() => Arrive(null);

    /// <summary>A member ends without a shared store.</summary>
    public void Leave() => Arrive(null);

    /// <summary>A member's fenced store; answers as <see cref="SharedTierClient.StoreIfEpochAsync"/> does, once the batch is back.</summary>
    public Task<bool> StoreAsync(CacheEntry entry, byte[] payload, CacheEntryOptions? options, long epoch, SharedTierVersions? versions, SharedTierLease? lease)
    {
        var pending = new Pending((entry, payload, options, epoch, versions, lease));
        Arrive(pending);
        return pending.Stored.Task;
    }

    private void Arrive(Pending? fill)
    {
        List<Pending>? batch = null;
        lock (_lock)
        {
            if (fill is not null)
            {
                _fills.Add(fill);
            }

            if (--_outstanding == 0 && _fills.Count > 0)
            {
                batch = [.. _fills];
                _fills.Clear();
            }
        }

        if (batch is not null)
        {
            _ = SendAsync(batch);
        }
    }

    private async Task SendAsync(List<Pending> batch)
    {
        try
        {
            var stored = await client.StoreManyIfEpochAsync(batch.ConvertAll(p => p.Fill)).ConfigureAwait(false);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Stored.TrySetResult(stored[i]);
            }
        }
        catch (Exception ex)
        {
            foreach (var pending in batch)
            {
                pending.Stored.TrySetException(ex);
            }
        }
    }

    private sealed class Pending((CacheEntry Entry, byte[] Payload, CacheEntryOptions? Options, long Epoch, SharedTierVersions? Versions, SharedTierLease? Lease) fill)
    {
        public (CacheEntry Entry, byte[] Payload, CacheEntryOptions? Options, long Epoch, SharedTierVersions? Versions, SharedTierLease? Lease) Fill { get; } = fill;

        public TaskCompletionSource<bool> Stored { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>
/// A flight's state that belongs to a batch factory round (a bulk call's key): the round its shared store joins. Joined by
/// the round before the member gets its value; left by the flight, whatever its path, when it ends.
/// </summary>
internal interface IStoreRoundMember
{
    /// <summary>The round computed this key: its store joins <paramref name="round"/> (unless the flight already ended).</summary>
    void JoinStoreRound(SharedStoreRound round);

    /// <summary>The round this key's store joins, once (null when it joined none, or already stored or left).</summary>
    SharedStoreRound? TakeStoreRound();

    /// <summary>The flight ended: a round still waiting for this member's store stops waiting for it.</summary>
    void LeaveStoreRound();
}

/// <summary>One home for a member's standing with its round: running, joined, stored (handed its store over) or left.</summary>
internal struct StoreRoundMembership
{
    private const int Running = 0, Joined = 1, Stored = 2, Left = 3;
    private SharedStoreRound? _round;
    private int _state;

    /// <summary>Joins <paramref name="round"/> unless the flight already ended (then the round does not wait for it).</summary>
    public void Join(SharedStoreRound round)
    {
        round.Expect();
        _round = round;
        if (Interlocked.CompareExchange(ref _state, Joined, Running) != Running)
        {
            round.Leave();
        }
    }

    public SharedStoreRound? Take() => Interlocked.CompareExchange(ref _state, Stored, Joined) == Joined ? _round : null;

    public void Leave()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state is Stored or Left)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _state, Left, state) == state)
            {
                if (state == Joined)
                {
                    _round!.Leave();
                }

                return;
            }
        }
    }
}
