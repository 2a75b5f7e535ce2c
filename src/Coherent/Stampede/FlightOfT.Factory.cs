using Coherent.Local;
using Coherent.Engine;
using Coherent.SharedTier;

namespace Coherent.Stampede;

/// <summary>The flight's factory step (step 3, with its hard timeout), what the factory decided about tags, and fail-safe (step 5).</summary>
internal sealed partial class Flight<TState, T>
{
    /// <summary>Fail-safe: the last value, if the policy allows one this old; starts the throttle so the factory is not retried at once.</summary>
    private CacheEntry? TryFailSafe(bool serving)
    {
        if (_cache.StaleCandidate(Key, _family) is not { } entry)
        {
            return null;
        }

        var now = Clock.PreciseNowMs();
        entry.ThrottleUntil(now + _family.FailSafeThrottleMs);
        if (serving)
        {
            Events.FailSafeActivated(Key, _family, entry.AgeMs(now)); // each caller served the value is counted as a stale request
        }

        return entry;
    }

    private async ValueTask<(T Value, double DeltaMs)> RunFactoryAsync()
    {
        using var activity = Events.StartSpan("coherent.factory", Key, _family, System.Diagnostics.ActivityKind.Internal);
        var start = Clock.GetTimestamp();
        Events.FactoryStarted(_family);
        T value;
        try
        {
            if (_family.Policy.HardTimeout is { } hard)
            {
                // The deadline's timer is registered before the factory starts, and the factory runs on the pool, so that a
                // factory blocking before its first await can delay neither the timer nor its own timeout.
                using var deadlineCts = new CancellationTokenSource();
                var deadline = System.Threading.Tasks.Task.Delay(hard, Clock.TimeProvider, deadlineCts.Token);
                var task = System.Threading.Tasks.Task.Run(() => InvokeFactory().AsTask(), CancellationToken.None);
                var first = await System.Threading.Tasks.Task.WhenAny(task, deadline).ConfigureAwait(false);
                await deadlineCts.CancelAsync().ConfigureAwait(false); // release the deadline's timer
                if (first != task)
                {
                    // Our timeout (a TimeoutException the factory throws itself completes the task and passes through as is).
                    CancelFactory();
                    _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    Events.FactoryTimedOut(Key, _family, hard);
                    activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "hard timeout");
                    throw new FactoryTimeoutException(Key, hard);
                }

                value = await task.ConfigureAwait(false);
            }
            else
            {
                value = await InvokeFactory().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (activity is not null && ex is not FactoryTimeoutException)
        {
            activity.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            throw;
        }

        var deltaMs = Clock.GetElapsedTime(start).TotalMilliseconds;
        Events.FactoryFinished(_family, deltaMs);
        return (value, deltaMs);
    }

    private ValueTask<T> InvokeFactory()
    {
        try
        {
            return _factory(_state, FactoryToken);
        }
        catch (Exception ex)
        {
            // A factory that throws before returning its task fails the same way as one whose task faults.
            return ValueTask.FromException<T>(ex);
        }
    }

    /// <summary>
    /// The shared tier's versions of the tags the factory added, appended to those captured before it — or null (store
    /// nothing in the tier) unless the fleet's count of tag invalidations read before the factory still holds once they
    /// are read: then none of them moved since the factory began, and the versions read now are the ones it began from.
    /// </summary>
    private async ValueTask<SharedTierVersions?> StampAddedSharedAsync(SharedTierClient client, IReadOnlyList<string> added, SharedTierVersions? before, long? fleetTagBumps)
    {
        if (before is null || fleetTagBumps is null)
        {
            return null;
        }

        var now = await client.CaptureVersionsAsync(Key, added, CancellationToken.None).ConfigureAwait(false);
        var after = now is null ? null : await client.ReadTagBumpSequenceAsync(Key, CancellationToken.None).ConfigureAwait(false);
        if (now?.Tags is not { } addedVersions || after != fleetTagBumps)
        {
            Events.AddedTagsKeptLocal(Key);
            return null;
        }

        return before with { Tags = [.. before.Tags ?? [], .. addedVersions] };
    }
}
