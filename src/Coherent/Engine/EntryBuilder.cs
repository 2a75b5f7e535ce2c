using Coherent.Invalidation;
using Coherent.Local;
using Coherent.Policies;
using Coherent.Refresh;
using Coherent.Serialization;
using Coherent.SharedTier;

namespace Coherent.Engine;

/// <summary>
/// Builds L1 entries (jittered expiry, XFetch window, fail-safe retention, copy-on-read payloads) and moves values to and
/// from bytes with the cache's serializer and payload bound. Builds only: whether an entry may be stored is the gate's call.
/// </summary>
internal sealed class EntryBuilder(ICacheSerializer serializer, Random random, long maxPayloadBytes, bool copyMutableValues)
{
    /// <summary>Builds an entry. Returns the payload too if it had to serialize (copy-on-read), so a shared store need not again.</summary>
    public (CacheEntry Entry, byte[]? Payload) Create<T>(string key, FamilyState family, T value, long createdAt, long now, double deltaMs,
        CacheEntryOptions? options, TagState[]? tags, long[]? stamps, long clearStamp, long epoch, long? sharedExpiresAt = null, long? fetchedAtMs = null,
        string? metadata = null)
    {
        var ttlMs = EntryLifetime.TtlMs(family, options);
        var localMs = EntryLifetime.LocalMs(family, options, ttlMs);
        var expires = now + Jitter.Apply(localMs, family.Policy.Jitter, random);
        if (sharedExpiresAt is { } shared)
        {
            expires = Math.Min(expires, shared);
        }

        byte[]? payload = null;
        object? stored = value;
        if (family.Policy.CopyOnRead || (copyMutableValues && !ImmutableType<T>.IsImmutable))
        {
            payload = Serialize(key, value);
            stored = new SerializedValue(payload, typeof(T));
        }

        var retain = Math.Max(expires, family.FailSafeUntilMs(createdAt));
        var entry = new CacheEntry(key, stored, family)
        {
            CreatedAtMs = createdAt,
            FetchedAtMs = fetchedAtMs ?? now,
            ExpiresAtMs = expires,
            RetainUntilMs = retain,
            DeltaMs = deltaMs,
            EarlyRefreshFromMs = XFetch.WindowStart(expires, deltaMs, family.Policy.EarlyRefreshBeta),
            Epoch = epoch,
            ClearStamp = clearStamp,
            Tags = tags,
            TagStamps = stamps,
            Metadata = metadata ?? options?.Metadata,
        };
        return (entry, payload);
    }

    /// <summary>A lookup's L2 value (TryGetAsync), kept as bytes: no flight fences it, so it is returned, never stored.</summary>
    public static CacheEntry FromLookup(string key, FamilyState family, SharedTierEntry shared, long now) => new(key, new SerializedValue(shared.Payload.ToArray(), typeof(object)), family)
    {
        CreatedAtMs = shared.CreatedAtMs,
        FetchedAtMs = now,
        ExpiresAtMs = shared.ExpiresAtMs,
        RetainUntilMs = shared.ExpiresAtMs,
        Epoch = shared.Epoch,
    };

    public byte[] Serialize<T>(string key, T value) => SerializerGuard.Serialize(serializer, key, value, maxPayloadBytes);

    public T Deserialize<T>(string key, ReadOnlyMemory<byte> payload) => SerializerGuard.Deserialize<T>(serializer, key, payload);
}
