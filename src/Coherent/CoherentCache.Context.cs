using Coherent.Policies;

namespace Coherent;

/// <summary>
/// The factory with a context (issue 15, part 1). It runs through the ordinary fill: the call gets entry options of its
/// own, and what the factory decides lands in them (<see cref="CacheEntryOptions.Decided"/>) before the engine stores the
/// value — so a decision is fenced like any fill, and a caller that joined the computation gets the same result.
/// </summary>
public sealed partial class CoherentCache
{
    /// <summary>
    /// As <see cref="GetOrSetAsync{T}(string, Func{CancellationToken, ValueTask{T}}, CacheEntryOptions?, CancellationToken)"/>,
    /// with a factory that sees the previous value and decides how its result is cached (<see cref="CacheFactoryContext{T}"/>).
    /// This overload allocates its context and options on every call, hits included: keep the plain overload on hot paths.
    /// On a miss with a shared tier it also reads the fleet's count of tag invalidations before the factory (and again at
    /// store time when the factory added tags): one round trip each on Redis.
    /// </summary>
    public ValueTask<T> GetOrSetAsync<T>(string key, Func<CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory,
        CacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var call = new ContextCall<T>(this, key, factory, CacheEntryOptions.ForContextCall(options));
        return GetOrSetAsync(key, call, static (c, ct) => c.RunAsync(ct), call.Options, cancellationToken);
    }

    private sealed class ContextCall<T>(CoherentCache cache, string key, Func<CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions options)
    {
        public CacheEntryOptions Options { get; } = options;

        public async ValueTask<T> RunAsync(CancellationToken cancellationToken)
        {
            var context = cache.CreateFactoryContext<T>(key, Options);
            var value = await factory(context, cancellationToken).ConfigureAwait(false);
            if (context.Changed)
            {
                Options.Decided = Options.WithDecision(context.Ttl, context.NotCached, context.AddedTags, context.Metadata);
            }

            return value;
        }
    }

    private CacheFactoryContext<T> CreateFactoryContext<T>(string key, CacheEntryOptions options)
    {
        var family = _families.Resolve(key);
        var ttl = TimeSpan.FromMilliseconds(EntryLifetime.TtlMs(family, options));
        var familyTtl = TimeSpan.FromMilliseconds(Math.Max(family.TtlMs, EntryLifetime.TtlMs(family, options)));

        // The previous value: any local copy not invalidated since (expired ones included; a fail-safe family's copy may
        // have come from the shared tier's retention).
        var previous = _l1.Peek(key, out var entry) && entry.IsValid(_tags.ClearVersion)
            ? new CacheFactoryContext<T>.Previous(true, ReadValue<T>(entry), DateTimeOffset.FromUnixTimeMilliseconds(entry.CreatedAtMs), entry.Metadata)
            : default;
        return new CacheFactoryContext<T>(key, family.Name, ttl, familyTtl, options.Tags, previous);
    }
}
