namespace Coherent.Invalidation;

/// <summary>
/// Per-sender sequence numbers. On a standalone server one sender's messages arrive in order, so a skipped number is a
/// lost message at once. On a Cluster they travel through different masters and may arrive out of order, so a missing
/// number is declared lost only after a grace period. Thread-safe (one lock; the bus handles one message at a time).
/// </summary>
/// <param name="graceMs">How long a missing number may be late before it is declared lost (0: at once, standalone).</param>
/// <param name="forgetAfterMs">How long a sender may be silent before it is forgotten (a node that left: its heartbeats
/// stopped). Heard again, it starts from its next message like a new one.</param>
internal sealed class SequenceTracker(long graceMs, long forgetAfterMs = 600_000)
{
    private const int MaxTracked = 4096;
    private readonly Dictionary<string, Sender> _senders = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>A message numbered <paramref name="seq"/> arrived. Returns how many messages are known lost (0 usually).</summary>
    public long OnMessage(string sender, long seq, long now) => Observe(sender, seq, now, received: true);

    /// <summary>A heartbeat said the sender had issued up to <paramref name="lastSeq"/> before it. Returns messages known lost.</summary>
    public long OnHeartbeat(string sender, long lastSeq, long now) => Observe(sender, lastSeq, now, received: false);

    public bool AnyMissing
    {
        get
        {
            lock (_lock)
            {
                foreach (var sender in _senders.Values)
                {
                    if (sender.Missing.Count > 0)
                    {
                        return true;
                    }
                }

                return false;
            }
        }
    }

    /// <summary>
    /// True when <paramref name="seq"/> from <paramref name="sender"/> was already received: a copy (a replay) to drop. A
    /// number still awaited out of order, or declared lost on a Cluster and arriving late, is not a duplicate (once).
    /// </summary>
    public bool IsDuplicate(string sender, long seq)
    {
        lock (_lock)
        {
            return _senders.TryGetValue(sender, out var known) && seq <= known.Max && !known.Missing.ContainsKey(seq) && !known.Lost.Remove(seq);
        }
    }

    /// <summary>Declares lost the numbers missing for longer than the grace. Returns (sender, count) of the worst, or null.</summary>
    public (string Sender, long Lost)? Expire(long now)
    {
        lock (_lock)
        {
            (string, long)? lost = null;
            List<string>? departed = null;
            foreach (var (name, sender) in _senders)
            {
                if (now - sender.LastHeardMs > forgetAfterMs && sender.Missing.Count == 0)
                {
                    (departed ??= []).Add(name); // every node heartbeats; this one left: do not keep it for the process's life
                    continue;
                }

                var expired = sender.Missing.Where(m => now - m.Value >= graceMs).Select(m => m.Key).ToList();
                if (sender.Lost.Count + expired.Count > MaxTracked)
                {
                    sender.Lost.Clear();
                }

                foreach (var seq in expired)
                {
                    sender.Missing.Remove(seq);
                    sender.Lost.Add(seq); // a late arrival is still handled (its invalidation is as useful late as ever)
                }

                if (expired.Count > 0)
                {
                    lost = (name, expired.Count + (lost?.Item2 ?? 0));
                }
            }

            foreach (var name in departed ?? [])
            {
                _senders.Remove(name);
            }

            return lost;
        }
    }

    /// <summary>Senders tracked now (tests and diagnostics).</summary>
    public int SenderCount
    {
        get
        {
            lock (_lock)
            {
                return _senders.Count;
            }
        }
    }

    /// <summary>
    /// Starts a sender not heard from yet at <paramref name="seq"/> (read from the server when subscribing), instead of at
    /// whatever first arrives from it: if that first message is lost, the next one then shows the gap.
    /// </summary>
    public void Seed(string sender, long seq, long now)
    {
        lock (_lock)
        {
            _senders.TryAdd(sender, new Sender { Max = seq, LastHeardMs = now });
        }
    }

    /// <summary>Forgets every sender (after a subscription loss everything is re-based).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _senders.Clear();
        }
    }

    private long Observe(string name, long seq, long now, bool received)
    {
        lock (_lock)
        {
            if (!_senders.TryGetValue(name, out var sender))
            {
                _senders[name] = new Sender { Max = seq, LastHeardMs = now };
                return 0;
            }

            sender.LastHeardMs = now;

            if (seq <= sender.Max)
            {
                if (received)
                {
                    sender.Missing.Remove(seq);
                }

                return 0;
            }

            var gap = seq - sender.Max - (received ? 1 : 0);
            var first = sender.Max + 1;
            sender.Max = seq;
            if (gap <= 0)
            {
                return 0;
            }

            if (graceMs <= 0 || gap > MaxTracked || sender.Missing.Count > MaxTracked)
            {
                sender.Missing.Clear();
                return gap;
            }

            for (var s = first; s < first + gap; s++)
            {
                sender.Missing[s] = now;
            }

            return 0;
        }
    }

    private sealed class Sender
    {
        public long Max;
        public long LastHeardMs;
        public Dictionary<long, long> Missing { get; } = [];

        /// <summary>Numbers declared lost on a Cluster, remembered so a late arrival is not taken for a replay.</summary>
        public HashSet<long> Lost { get; } = [];
    }
}
