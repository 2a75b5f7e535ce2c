using Coherent.SharedTier;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coherent.Tests;

/// <summary>The core's retry queue for invalidations a backend could not apply, driven by fake time and a scripted backend.</summary>
public sealed class InvalidationRetryQueueTests
{
    /// <summary>A host that records what the queue tells the engine.</summary>
    private sealed class Host(FakeTimeProvider time) : ISharedTierHost
    {
        public List<string> Told { get; } = [];

        public long NowMs() => time.GetUtcNow().ToUnixTimeMilliseconds();

        public TimeProvider TimeProvider => time;

        public ILogger Logger => NullLogger.Instance;

        public IReadOnlyList<SharedTierFamily> Families => [];

        public void OnRemoteInvalidated(string key) => Told.Add("key " + key);

        public void RecordInvalidationLag(string key, double lagMs) { }

        public void OnRemoteTagInvalidated(string tag) => Told.Add("tag " + tag);

        public void OnRemoteCleared() => Told.Add("clear");

        public void SetConfirmedUpTo(long ms) { }

        public int DropLocalEntriesFetchedBefore(long ms) => 0;
    }

    /// <summary>A backend whose answer to each target is scripted: land, unreachable, refused or undeliverable.</summary>
    private sealed class Backend
    {
        public Dictionary<string, InvalidationSendFailure?> Answers { get; } = [];

        public List<string> Sent { get; } = [];

        public Task Send(PendingInvalidation write, CancellationToken _)
        {
            Sent.Add(write.Target);
            return Answers.GetValueOrDefault(write.Target) is { } failure ? Task.FromException(new FailedSend(failure)) : Task.CompletedTask;
        }

        public static InvalidationSendFailure Classify(Exception ex) => ((FailedSend)ex).Failure;

        private sealed class FailedSend(InvalidationSendFailure failure) : Exception(failure.ToString())
        {
            public InvalidationSendFailure Failure { get; } = failure;
        }
    }

    private static (InvalidationRetryQueue Queue, Host Host, Backend Backend, FakeTimeProvider Time) Create(int maxPending = 10)
    {
        var time = T.Clock();
        var host = new Host(time);
        var backend = new Backend();
        var queue = new InvalidationRetryQueue(
            new InvalidationRetrySettings("Test", maxPending, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), backend.Send, Backend.Classify),
            host, NullLogger.Instance);
        return (queue, host, backend, time);
    }

    [Fact]
    public async Task A_queued_write_lands_on_the_next_round_and_the_host_is_told()
    {
        var (queue, host, backend, _) = Create();
        var ex = queue.Queue(PendingInvalidation.ForKey("item:1"), new TimeoutException("down"));
        Assert.Contains("key item:1", ex.Message);
        Assert.Equal(1, queue.Count);

        await queue.RetryAsync();
        Assert.Equal(0, queue.Count);
        Assert.Equal(["key item:1"], host.Told);
        await queue.DisposeAsync();
    }

    [Fact]
    public async Task An_unreachable_backend_ends_the_round_and_keeps_every_write()
    {
        var (queue, host, backend, _) = Create();
        queue.Queue(PendingInvalidation.ForKey("item:1"), new TimeoutException());
        queue.Queue(PendingInvalidation.ForTag("catalog"), new TimeoutException());
        backend.Answers["key item:1"] = InvalidationSendFailure.Unreachable;
        backend.Answers["tag catalog"] = InvalidationSendFailure.Unreachable;

        await queue.RetryAsync();
        Assert.Equal(2, queue.Count);
        Assert.Single(backend.Sent); // the first failure to reach it ended the round
        Assert.Empty(host.Told);
        backend.Answers.Clear();
        await queue.DisposeAsync(); // the last attempt lands both
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task A_refused_write_backs_off_alone_and_an_undeliverable_one_is_dropped()
    {
        var (queue, host, backend, time) = Create();
        queue.Queue(PendingInvalidation.ForKey("bad"), new TimeoutException());
        queue.Queue(PendingInvalidation.ForKey("never"), new TimeoutException());
        queue.Queue(PendingInvalidation.ForKey("good"), new TimeoutException());
        backend.Answers["key bad"] = InvalidationSendFailure.Refused;
        backend.Answers["key never"] = InvalidationSendFailure.Undeliverable;

        await queue.RetryAsync();
        Assert.Equal(["key good"], host.Told); // not held up by the refused one
        Assert.Equal(1, queue.Count);         // the undeliverable one is gone, the refused one waits

        backend.Sent.Clear();
        await queue.RetryAsync();             // still backing off (one retry interval)
        Assert.Empty(backend.Sent);
        time.Advance(TimeSpan.FromSeconds(1));
        backend.Answers.Clear();
        await queue.RetryAsync();
        Assert.Equal(0, queue.Count);
        await queue.DisposeAsync();
    }

    [Fact]
    public async Task A_full_queue_collapses_into_one_clear_and_a_newer_write_replaces_an_older_one()
    {
        var (queue, host, _, _) = Create(maxPending: 2);
        queue.Queue(PendingInvalidation.ForKey("item:1"), new TimeoutException());
        queue.Queue(PendingInvalidation.ForKey("item:1"), new TimeoutException()); // same target: replaced, not added
        queue.Queue(PendingInvalidation.ForTag("catalog"), new TimeoutException());
        Assert.Equal(2, queue.Count);
        var ex = queue.Queue(PendingInvalidation.ForKey("item:2"), new TimeoutException());
        Assert.Contains("collapsed into one clear", ex.Message);
        Assert.Equal(1, queue.Count);
        Assert.Equal(1, queue.Collapses);

        await queue.RetryAsync();
        Assert.Equal(["clear"], host.Told);
        await queue.DisposeAsync();
    }
}
