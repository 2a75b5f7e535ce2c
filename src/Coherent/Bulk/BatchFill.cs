using Coherent.Engine;
using Coherent.Stampede;
using Microsoft.Extensions.Logging;

namespace Coherent.Bulk;


/// <summary>
/// One <c>GetOrSetManyAsync</c> call's batch factory, shared by the per-key flights the call started. Each key still runs
/// its own flight (shared read, lease, fenced store: every key is fenced on its own), and that flight's factory is a slot
/// here (<see cref="ValueFor"/>). The batch factory runs once for every key whose slot was called, in rounds: a round
/// starts when each key the call started has either called its slot or finished without it (an L1 or L2 hit, or another
/// node's value), or when nothing has moved for <see cref="SettleTime"/> (a key waiting on another node's lease, or one
/// that joined a flight it could not see, must not hold the others back). Keys that call their slot later get a round of
/// their own. The factory's token is cancelled only when every flight in its round has been cancelled: one caller giving
/// up never cancels what others wait on. With a shared tier, a round's keys also store together: each joins the round's
/// <see cref="SharedStoreRound"/> before it gets its value.
/// </summary>
internal sealed class BatchFill<T>
{
    /// <summary>How long a round waits for keys that have not moved before it runs without them.</summary>
    public static readonly TimeSpan SettleTime = TimeSpan.FromMilliseconds(20);

    private readonly Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> _factory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SharedTierClient? _shared;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Slot> _waiting = new(StringComparer.Ordinal);
    private readonly HashSet<string> _absent = new(StringComparer.Ordinal);
    private int _unsettled;
    private ITimer? _settle;

    public BatchFill(Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory, TimeProvider time, ILogger logger, SharedTierClient? shared)
    {
        _shared = shared;
        _factory = factory;
        _time = time;
        _logger = logger;
    }

    /// <summary>A key this call started a flight for: the first round waits for it to call its slot or finish.</summary>
    public void Expect()
    {
        lock (_lock)
        {
            _unsettled++;
        }
    }

    /// <summary>A key that was expected finished without calling its slot.</summary>
    public void Finished()
    {
        List<Slot>? round;
        lock (_lock)
        {
            _unsettled--;
            round = TakeRoundIfSettled();
        }

        Run(round);
    }

    /// <summary>Whether the factory left <paramref name="key"/> out of its result: reported absent, never cached.</summary>
    public bool IsAbsent(string key)
    {
        lock (_lock)
        {
            return _absent.Contains(key);
        }
    }

    /// <summary>The flight factory of a key: waits for the round that computes it.</summary>
    public ValueTask<T> ValueFor(string key, bool expected, IStoreRoundMember member, CancellationToken flightToken)
    {
        var slot = new Slot(key, member, flightToken);
        List<Slot>? round;
        lock (_lock)
        {
            _waiting[key] = slot;
            if (expected)
            {
                _unsettled--;
            }

            round = TakeRoundIfSettled();
            if (round is null && _settle is null)
            {
                _settle = _time.CreateTimer(static s => ((BatchFill<T>)s!).OnSettleTime(), this, SettleTime, Timeout.InfiniteTimeSpan);
            }
        }

        Run(round);
        return new ValueTask<T>(slot.Value.Task);
    }

    private void OnSettleTime()
    {
        List<Slot>? round;
        lock (_lock)
        {
            _settle?.Dispose();
            _settle = null;
            round = TakeRound();
        }

        Run(round);
    }

    private List<Slot>? TakeRoundIfSettled() => _unsettled <= 0 ? TakeRound() : null;

    private List<Slot>? TakeRound()
    {
        if (_waiting.Count == 0)
        {
            return null;
        }

        var round = _waiting.Values.ToList();
        _waiting.Clear();
        _settle?.Dispose();
        _settle = null;
        return round;
    }

    private void Run(List<Slot>? round)
    {
        if (round is not null)
        {
            _ = RunAsync(round);
        }
    }

    private async Task RunAsync(List<Slot> round)
    {
        using var cancel = new CancellationTokenSource();
        var live = round.Count;
        var registrations = round.Select(slot => slot.FlightToken.Register(() =>
        {
            if (Interlocked.Decrement(ref live) == 0)
            {
                cancel.Cancel();
            }
        })).ToList();

        try
        {
            var keys = round.Select(s => s.Key).ToArray();
            var values = await _factory(keys, cancel.Token).ConfigureAwait(false)
                ?? throw new InvalidOperationException("The batch factory returned null; return an empty dictionary when no key has a value.");
            var unasked = values.Count;
            var stores = _shared is null ? null : new SharedStoreRound(_shared);
            foreach (var slot in round)
            {
                if (stores is not null && values.ContainsKey(slot.Key))
                {
                    slot.Member.JoinStoreRound(stores);
                }
            }

            stores?.Seal();
            foreach (var slot in round)
            {
                if (values.TryGetValue(slot.Key, out var value))
                {
                    unasked--;
                    slot.Value.TrySetResult(value);
                }
                else
                {
                    lock (_lock)
                    {
                        _absent.Add(slot.Key);
                    }

                    slot.Value.TrySetException(new KeyNotReturnedException(slot.Key));
                }
            }

            if (unasked > 0)
            {
                BulkLog.UnaskedKeysIgnored(_logger, unasked, round.Count);
            }
        }
        catch (Exception ex)
        {
            foreach (var slot in round)
            {
                slot.Value.TrySetException(ex);
            }
        }
        finally
        {
            foreach (var registration in registrations)
            {
                registration.Dispose();
            }
        }
    }

    private sealed class Slot(string key, IStoreRoundMember member, CancellationToken flightToken)
    {
        public string Key { get; } = key;

        public IStoreRoundMember Member { get; } = member;

        public CancellationToken FlightToken { get; } = flightToken;

        public TaskCompletionSource<T> Value { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}


internal static partial class BulkLog
{
    [LoggerMessage(EventId = 1030, Level = LogLevel.Warning, Message = "The batch factory returned {Unasked} key(s) it was not asked for (round of {Asked}); they were ignored.")]
    public static partial void UnaskedKeysIgnored(ILogger logger, int unasked, int asked);
}
