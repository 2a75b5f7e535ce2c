using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Coherent.SharedTier;

namespace Coherent.Memcached;

/// <summary>
/// The invalidation bus, when <see cref="CoherentMemcachedOptions.InvalidationTransport"/> lends one (Memcached has no
/// pub/sub): the core's <see cref="InvalidationBus"/> over that transport. Each invalidation, write-through, tag bump and
/// clear is announced after it landed in Memcached — not in one step with it, as a Redis script does: a process that dies
/// in between never announces its write, and other nodes keep their L1 copy until it expires (see <c>docs/shared-tier.md</c>).
/// A publish that fails after its number was taken keeps the number burned, so receivers see a gap and drop their L1.
/// </summary>
internal sealed partial class MemcachedTier : IInvalidationBusListener
{
    /// <summary>Transports in use by a live tier: a bus subscribes once per transport, so two caches must never share one.</summary>
    private static readonly ConditionalWeakTable<IInvalidationTransport, object> Claimed = new();

    private Counter<long>? _rejectedFrames;
    private InvalidationBus? _bus;

    /// <summary>The bus, when a transport was given (tests).</summary>
    internal InvalidationBus? Bus => _bus;

    private bool HasBus => _options.InvalidationTransport is not null;

    /// <summary>Whether another live cache already runs its bus over <paramref name="transport"/> (a validation problem).</summary>
    internal static bool IsClaimed(IInvalidationTransport transport) => Claimed.TryGetValue(transport, out _);

    private void ClaimTransport()
    {
        if (_options.InvalidationTransport is { } transport && !Claimed.TryAdd(transport, this))
        {
            throw new CoherentConfigurationException(["Memcached InvalidationTransport is already used by another cache: give each cache its own transport."]);
        }
    }

    private void ReleaseTransport()
    {
        if (_options.InvalidationTransport is { } transport && Claimed.TryGetValue(transport, out var owner) && ReferenceEquals(owner, this))
        {
            Claimed.Remove(transport);
        }
    }

    private void StartBus(ISharedTierHost host, IInvalidationTransport transport)
    {
        foreach (var family in host.Families.Where(f => f.MaxStaleness < 4 * _options.HeartbeatInterval))
        {
            MemcachedLog.HeartbeatTooSlow(_logger, family.Name, family.MaxStaleness, _options.HeartbeatInterval);
        }

        _rejectedFrames = _meter.CreateCounter<long>("coherent.memcached.rejected_bus_frames", "{frame}", description: "Bus frames refused (unsigned or forged, replayed, a heartbeat from the future); each was ignored.");
        _bus = new InvalidationBus(host, transport, new InvalidationBusOptions
        {
            HeartbeatInterval = _options.HeartbeatInterval,
            FrameSigningKey = _options.SigningKey is { } secret ? HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes("coherent/bus/" + _options.KeyPrefix)) : null,
            Logger = _logger,
            Listener = this,
        });
        MemcachedLog.PairedBus(_logger, CacheName);
        _bus.Start();
    }

    /// <summary>
    /// Announces a write that landed: <paramref name="version"/> is the tag's or clear's new value (appended outside the
    /// frame's MAC, as a Redis script does). Never throws: the write is done whatever happens to its announcement.
    /// </summary>
    private async Task AnnounceAsync(PendingInvalidation write, long version)
    {
        if (_bus is not { } bus || _options.InvalidationTransport is not { } transport)
        {
            return;
        }

        // Under the bus's send lock the frame is numbered and handed to the transport, so frames leave in number order. The
        // publication is awaited outside it; issue never throws, so a taken number is never taken back once a publish may
        // have started (a lost one is then a gap, which drops L1 everywhere: safe).
        Task Issue(string frame) => Publish(transport, frame);
        var publication = write.Kind switch
        {
            PendingInvalidationKind.Key => bus.SendInvalidation(write.Name, Issue),
            PendingInvalidationKind.Tag => bus.SendTagInvalidation(write.Name, frame => Issue(frame + version.ToString(CultureInfo.InvariantCulture))),
            _ => bus.SendClear(frame => Issue(frame + version.ToString(CultureInfo.InvariantCulture))),
        };
        try
        {
            await publication.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the transport's failure (a Redis exception, a timeout): the burned number is a gap for every receiver
        catch (Exception ex)
#pragma warning restore CA1031
        {
            MemcachedLog.AnnouncementFailed(_logger, write.Name, ex);
        }
    }

    private static Task Publish(IInvalidationTransport transport, string frame)
    {
        try
        {
            return transport.Publish(frame);
        }
#pragma warning disable CA1031 // turned into a failed publication: the number stays burned (see AnnounceAsync)
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return Task.FromException(ex);
        }
    }

    // Memcached waits for fills by polling, and publishes no fill frames.
    void IInvalidationBusListener.OnFilled(string key)
    {
    }

    // Versions are read from Memcached with every entry, never cached from the bus (whose version is outside the MAC).
    void IInvalidationBusListener.OnTagVersion(string tag, long version, string frame)
    {
    }

    void IInvalidationBusListener.OnClearVersion(long version, string frame)
    {
    }

    // Nothing to reload: no version known from the bus is ever judged with.
    void IInvalidationBusListener.OnPossibleLoss()
    {
    }

    void IInvalidationBusListener.OnFrameRejected(string reason, string frame)
    {
        _rejectedFrames?.Add(1, new KeyValuePair<string, object?>("coherent.cache", CacheName), new KeyValuePair<string, object?>("coherent.reason", reason));
        MemcachedLog.BusFrameRejected(_logger, reason, frame.Length > 200 ? frame[..200] : frame);
    }
}
