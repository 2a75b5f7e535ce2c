using System.Buffers;

namespace Coherent.Redis.Tests.Infrastructure;

/// <summary>
/// A JSON serializer with two gates: an armed gate holds the next serialization (a write or a fill on its way to L2) or the
/// next deserialization (an L2 read between its checks and its L1 fill) until the test releases it, so races can be
/// replayed in a chosen order instead of hoped for.
/// </summary>
public sealed class GateSerializer : ICacheSerializer
{
    public Gate OnSerialize { get; } = new();

    public Gate OnDeserialize { get; } = new();

    public void Serialize<T>(T value, IBufferWriter<byte> destination)
    {
        OnSerialize.PassThrough();
        JsonCacheSerializer.Default.Serialize(value, destination);
    }

    public T Deserialize<T>(ReadOnlySequence<byte> source)
    {
        OnDeserialize.PassThrough();
        return JsonCacheSerializer.Default.Deserialize<T>(source);
    }

    /// <summary>Holds the first caller after <see cref="Arm"/> until <see cref="Open"/>; everyone else passes.</summary>
    public sealed class Gate
    {
        private int _armed;

        public ManualResetEventSlim Entered { get; } = new();

        public ManualResetEventSlim Release { get; } = new();

        public void Arm() => Volatile.Write(ref _armed, 1);

        public void Open() => Release.Set();

        /// <summary>Waits until a caller is held; false after <paramref name="timeout"/>.</summary>
        public bool WaitEntered(TimeSpan timeout, CancellationToken ct) => Entered.Wait(timeout, ct);

        internal void PassThrough()
        {
            if (Interlocked.Exchange(ref _armed, 0) == 1)
            {
                Entered.Set();
                Release.Wait(TimeSpan.FromSeconds(30));
            }
        }
    }
}
