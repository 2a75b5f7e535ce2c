#if NET10_0_OR_GREATER
using Microsoft.Extensions.Caching.Hybrid;

namespace Coherent.DependencyInjection;

/// <summary>
/// HybridCache 11.0's factory with an entry context (net10.0: the 11.0 abstractions carry it; the net8.0 build of the
/// package has no such overload). HybridCache's own default runs the factory with writes disabled and then stores its
/// result with <see cref="HybridCache.SetAsync"/> — an unfenced write, which would let a value computed before an
/// invalidation enter the cache after it. Here the call goes through Coherent's fenced fill instead, and what the
/// factory decided in its context (expiration, local expiration, write flags) is read when the value is stored.
/// </summary>
internal sealed partial class CoherentHybridCache
{
    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, HybridCacheEntryContext, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        if (!Cacheable(key))
        {
            return _options.Has(options, HybridCacheEntryFlags.DisableUnderlyingData) ? default : factory(state, new HybridCacheEntryContext(options!), cancellationToken);
        }

        if (_options.Has(options, HybridCacheEntryFlags.DisableUnderlyingData))
        {
            _ = _options.Map(options, tags); // the same tag checks as a call that computes
            return WithCallerTokenAsync(LookupOnlyAsync<T>(key, skipLocal: _options.Has(options, HybridCacheEntryFlags.DisableLocalCacheRead), cancellationToken), cancellationToken);
        }

        // One options instance per call (the factory may decide on it), so this overload allocates on an L1 hit too.
        var entryOptions = _options.MapForOneCall(options, tags);
        var call = new ContextCall<TState, T>(state, factory, options, entryOptions, _options);
        var pending = cache.GetOrSetAsync(key, call, static (c, ct) => c.RunAsync(ct), entryOptions, cancellationToken);
        return pending.IsCompletedSuccessfully ? pending : WithCallerTokenAsync(pending, cancellationToken);
    }

    /// <summary>
    /// A key as characters (also what HybridCache's interpolated-key overloads call): a hot L1 hit is served without making
    /// a string of the key; anything else goes the ordinary way. Only a call with no options or tags of its own takes the
    /// shortcut, and only when the defaults leave L1 reads on — exactly the calls whose hit the string overload serves alike.
    /// </summary>
    public override ValueTask<T> GetOrCreateAsync<TState, T>(ReadOnlySpan<char> key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        if (options is null && tags is null && _options.Defaults?.SkipLocalRead != true && cache.TryGetHot<T>(key, out var value))
        {
            return new ValueTask<T>(value);
        }

        return GetOrCreateAsync(key.ToString(), state, factory, options, tags, cancellationToken);
    }

    /// <summary>One call's factory, context and options: runs the factory, then hands its decisions to the entry options.</summary>
    private sealed class ContextCall<TState, T>(TState state, Func<TState, HybridCacheEntryContext, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options, CacheEntryOptions entryOptions, HybridOptionsMap map)
    {
        public async ValueTask<T> RunAsync(CancellationToken cancellationToken)
        {
            var context = new HybridCacheEntryContext(options!);
            var unchanged = context.Revision;
            var value = await factory(state, context, cancellationToken).ConfigureAwait(false);
            if (context.Revision != unchanged)
            {
                var decided = new HybridCacheEntryOptions
                {
                    Expiration = context.Expiration,
                    LocalCacheExpiration = context.LocalCacheExpiration,
                    Flags = context.Flags,
                };
                entryOptions.Decided = map.MapDecision(decided, entryOptions);
            }

            return value;
        }
    }
}
#endif
