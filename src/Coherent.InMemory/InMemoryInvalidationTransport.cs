using Coherent.SharedTier;

namespace Coherent.InMemory;

/// <summary>
/// One node's end of the hub's bus: an inbox that hands frames to the core's <see cref="InvalidationBus"/> one at a time, in
/// the order they were queued. A delayed frame holds back every frame queued after it (a slow link keeps its order); a
/// reordered one is queued only when its delay ends, so frames sent meanwhile overtake it.
/// </summary>
internal sealed class InMemoryInvalidationTransport(InMemorySharedTierHub hub, string name, TimeProvider time) : IInvalidationTransport
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Queued> _inbox = new();
    private Action<string>? _receive;
    private bool _pumping;

    public string Name { get; } = name;

    public bool MayReorder => hub.MayReorder;

#pragma warning disable CS0067 // an in-process subscription is never lost
    public event Action<string>? SubscriptionLost;
#pragma warning restore CS0067

    public async Task SubscribeAsync(Action<string> receive, Func<Task> subscribed, CancellationToken cancellationToken)
    {
        hub.Subscribe(this); // frames published from here on are queued, and held until the handler is attached
        await subscribed().ConfigureAwait(false);
        lock (_gate)
        {
            _receive = receive;
        }

        Pump();
    }

    public Task UnsubscribeAsync(CancellationToken cancellationToken)
    {
        hub.Unsubscribe(this);
        return Task.CompletedTask;
    }

    public Task PublishOrdered(Func<int, string> frame)
    {
        hub.Publish(this, frame(1), null);
        return Task.CompletedTask;
    }

    public void RecordSequence(string sender, long sequence) => hub.RecordSequence(sender, sequence);

    public Task<IReadOnlyList<KeyValuePair<string, long>>> ReadSequencesAsync(CancellationToken cancellationToken) => Task.FromResult(hub.Sequences());

    /// <summary>A frame on its way here, with its fate (never <see cref="FrameFate.Lost"/>: the hub counts those).</summary>
    internal void Deliver(string text, FrameFate fate)
    {
        if (fate.Reorder)
        {
            After(fate.Delay, () => Enqueue(new Queued(text)));
            return;
        }

        var queued = new Queued(text) { Ready = fate.Delay <= TimeSpan.Zero };
        Enqueue(queued);
        if (!queued.Ready)
        {
            After(fate.Delay, () =>
            {
                lock (_gate)
                {
                    queued.Ready = true;
                }

                Pump();
            });
        }
    }

    private void Enqueue(Queued queued)
    {
        lock (_gate)
        {
            _inbox.AddLast(queued);
        }

        Pump();
    }

    /// <summary>Hands queued frames over, one at a time, up to the first one still delayed; one caller pumps at a time.</summary>
    private void Pump()
    {
        while (true)
        {
            string text;
            Action<string> receive;
            lock (_gate)
            {
                if (_pumping || _receive is null || _inbox.First is not { Value.Ready: true } head)
                {
                    return;
                }

                _inbox.RemoveFirst();
                text = head.Value.Text;
                receive = _receive;
                _pumping = true;
            }

            try
            {
                receive(text);
            }
            finally
            {
                lock (_gate)
                {
                    _pumping = false;
                }
            }
        }
    }

    private void After(TimeSpan delay, Action action)
    {
        ITimer? timer = null;
        timer = time.CreateTimer(_ =>
        {
            action();
            timer?.Dispose();
        }, null, delay, Timeout.InfiniteTimeSpan);
    }

    private sealed class Queued(string text)
    {
        public string Text { get; } = text;

        public bool Ready { get; set; } = true;
    }
}
