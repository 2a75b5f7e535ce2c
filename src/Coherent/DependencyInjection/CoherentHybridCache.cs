using Coherent.Policies;
using Coherent.Telemetry;
using Microsoft.Extensions.Caching.Hybrid;

namespace Coherent.DependencyInjection;

/// <summary>
/// Microsoft's <see cref="HybridCache"/> API served by Coherent. Options map through <see cref="HybridOptionsMap"/> (the
/// guide's HybridCache section lists each one): expirations to the entry's TTL and local lifetime,
/// <see cref="HybridCacheEntryFlags.DisableDistributedCacheRead"/> to local-only (a fill with no shared read has no epoch to be
/// fenced with), <see cref="HybridCacheEntryFlags.DisableDistributedCacheWrite"/> alone to a call that reads the shared tier
/// but stores nothing in it,
/// <see cref="HybridCacheEntryFlags.DisableLocalCacheRead"/> to a call that does not serve from L1,
/// <see cref="HybridCacheEntryFlags.DisableLocalCacheWrite"/> to a call that stores nothing in L1 (and drops an older L1
/// value), <see cref="HybridCacheEntryFlags.DisableUnderlyingData"/> to a lookup that never runs the factory (default when
/// absent), and <c>RemoveByTagAsync("*")</c> to a clear. DisableCompression has no meaning: Coherent does not compress.
/// As HybridCache, a key it cannot cache (empty, whitespace-only, over <see cref="HybridCacheOptions.MaximumKeyLength"/>,
/// control characters) is logged and the factory runs uncached; reserved (<c>*</c>) and empty entry tags throw; a
/// cancelled caller gets an <see cref="OperationCanceledException"/> carrying its own token; a mutable type is copied per
/// caller (the cache is built with <see cref="CoherentCacheBuilder.CopyMutableValuesValue"/>).
/// </summary>
internal sealed partial class CoherentHybridCache(CoherentCache cache, HybridCacheOptions options) : HybridCache
{
    private readonly int _maxKeyLength = cache.MaxKeyLength;
    private readonly HybridOptionsMap _options = new(options);

    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        var entryOptions = _options.Map(options, tags);
        if (!Cacheable(key))
        {
            return _options.Has(options, HybridCacheEntryFlags.DisableUnderlyingData) ? default : factory(state, cancellationToken);
        }

        var pending = _options.Has(options, HybridCacheEntryFlags.DisableUnderlyingData)
            ? LookupOnlyAsync<T>(key, skipLocal: _options.Has(options, HybridCacheEntryFlags.DisableLocalCacheRead), cancellationToken)
            : cache.GetOrSetAsync(key, state, factory, entryOptions, cancellationToken);

        // An L1 hit completes synchronously: only a call that really waits pays for the async wrapper.
        return pending.IsCompletedSuccessfully ? pending : WithCallerTokenAsync(pending, cancellationToken);
    }

    /// <summary>
    /// HybridCache's cancelled caller sees exactly an <see cref="OperationCanceledException"/> whose token is its own
    /// (observed: not a subclass), and tests written against it assert the exact type. Coherent's waits surface a
    /// <see cref="TaskCanceledException"/>, and a wait cancelled through a linked token carries that token instead.
    /// </summary>
    private static async ValueTask<T> WithCallerTokenAsync<T>(ValueTask<T> pending, CancellationToken cancellationToken)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested
            && (ex.GetType() != typeof(OperationCanceledException) || ex.CancellationToken != cancellationToken))
        {
            throw new OperationCanceledException(ex.Message, ex, cancellationToken);
        }
    }

    private bool Cacheable(string key)
    {
        // HybridCache does not cache a whitespace-only key either (observed on Microsoft's implementation, 10.11).
        if (KeyRules.IsStorable(key, _maxKeyLength) && !string.IsNullOrWhiteSpace(key))
        {
            return true;
        }

        Log.HybridKeyNotCached(cache.Logger, key?.Length ?? 0, _maxKeyLength);
        return false;
    }

    private async ValueTask<T> LookupOnlyAsync<T>(string key, bool skipLocal, CancellationToken cancellationToken)
    {
        var found = await cache.TryGetAsync<T>(key, skipLocal, cancellationToken).ConfigureAwait(false);
        return found.Found ? found.Value! : default!;
    }

    public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        var entryOptions = _options.Map(options, tags);
        return Cacheable(key) ? cache.SetAsync(key, value, entryOptions, cancellationToken) : default;
    }

    // Nothing can be stored under a key that is not cacheable, so there is nothing to remove.
    public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key); // HybridCache throws here too, though it accepts a null key elsewhere
        return Cacheable(key) ? cache.InvalidateAsync(key, cancellationToken) : default;
    }

    // No entry can carry a null or empty tag, so HybridCache's no-op is exact (Coherent's own API throws). A whitespace-only
    // tag goes through: an entry stored by Coherent's own API may carry one.
    public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) =>
        string.IsNullOrEmpty(tag) ? default
        : tag == "*" ? cache.ClearAsync(cancellationToken)
        : cache.InvalidateTagAsync(tag, cancellationToken);
}
