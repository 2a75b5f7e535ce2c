using Coherent.Memcached.Protocol;

namespace Coherent.Memcached.Connections;

/// <summary>
/// What the connection waits for, in the order the requests were written: one response for a lone request, or the
/// responses of a batch up to its closing <c>MN</c>. Completing the caller's task (answer, timeout, cancel) never removes
/// the item from the line: the server's answer still arrives and is consumed by it, which keeps the stream in step.
/// </summary>
internal abstract class PendingRequest
{
    private readonly TaskCompletionSource<MetaResponse[]> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected PendingRequest(long deadline) => Deadline = deadline;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> after which the caller stops waiting.</summary>
    public long Deadline { get; }

    public Task<MetaResponse[]> Task => _completion.Task;

    public bool IsAbandoned => _completion.Task.IsCompleted;

    /// <summary>Consumes one response; returns true when this item expects no more (it leaves the line).</summary>
    public abstract bool Accept(MetaResponse response);

    public void Fail(Exception exception) => _completion.TrySetException(exception);

    public void Cancel(CancellationToken token) => _completion.TrySetCanceled(token);

    protected void Complete(MetaResponse[] responses) => _completion.TrySetResult(responses);
}

/// <summary>One non-quiet request: the next response is its answer, tagged with its opaque unless it is an error line or MN.</summary>
internal sealed class SinglePending(uint opaque, bool isNoOp, long deadline) : PendingRequest(deadline)
{
    public override bool Accept(MetaResponse response)
    {
        if (response.IsError)
        {
            Fail(new MemcachedServerErrorException(response));
            return true;
        }

        var expected = isNoOp ? response.Status == MetaStatus.NoOp : response.Status != MetaStatus.NoOp && response.Opaque == opaque;
        if (!expected)
        {
            throw new ProtocolDesyncException($"expected the answer to request {opaque}, got {response}");
        }

        Complete([response]);
        return true;
    }
}

/// <summary>
/// A batch written as its requests followed by <c>mn</c>. Answers carry the requests' opaques (consecutive from
/// <paramref name="firstOpaque"/>); a quiet request that got no answer gets its quiet meaning (EN for mg, HD otherwise)
/// at the closing MN. An error line names no request, so it fails the whole batch (still read up to MN).
/// </summary>
internal sealed class BatchPending(MetaRequest[] requests, uint firstOpaque, long deadline) : PendingRequest(deadline)
{
    private readonly MetaResponse?[] _responses = new MetaResponse?[requests.Length];
    private MetaResponse? _error;

    public override bool Accept(MetaResponse response)
    {
        if (response.IsError)
        {
            _error ??= response;
            return false;
        }

        if (response.Status == MetaStatus.NoOp)
        {
            var results = new MetaResponse[requests.Length];
            for (var i = 0; i < results.Length; i++)
            {
                if (_responses[i] is { } answered)
                {
                    results[i] = answered;
                }
                else if (requests[i].IsQuiet || _error is not null)
                {
                    results[i] = requests[i].QuietAnswer;
                }
                else
                {
                    throw new ProtocolDesyncException($"the batch ended before request {firstOpaque + (uint)i} was answered");
                }
            }

            if (_error is not null)
            {
                Fail(new MemcachedServerErrorException(_error));
            }
            else
            {
                Complete(results);
            }

            return true;
        }

        var index = response.Opaque is { } opaque ? unchecked(opaque - firstOpaque) : uint.MaxValue;
        if (index >= (uint)requests.Length || _responses[index] is not null)
        {
            throw new ProtocolDesyncException($"an answer {response} that belongs to no open request of the batch");
        }

        _responses[index] = response;
        return false;
    }
}
