namespace Coherent.Benchmarks;

/// <summary>
/// Runs a body on two threads at once: the calling thread (index 0) and one long-lived worker (index 1), released
/// together by a spinning start barrier so thread start-up and wake-up latency stay out of the measurement.
/// </summary>
internal sealed class TwoThreadRunner : IDisposable
{
    private readonly Thread _worker;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ManualResetEventSlim _done = new(false);
    private Action<int>? _body;
    private volatile int _ready;
    private volatile int _go;
    private volatile bool _stop;

    public TwoThreadRunner()
    {
        _worker = new Thread(WorkerLoop) { IsBackground = true, Name = "bench-worker" };
        _worker.Start();
    }

    public void Run(Action<int> body)
    {
        _body = body;
        _done.Reset();
        _ready = 0;
        _go = 0;
        _wake.Release();
        var spin = new SpinWait();
        while (_ready == 0)
        {
            spin.SpinOnce(-1);
        }

        _go = 1;
        body(0);
        _done.Wait();
    }

    private void WorkerLoop()
    {
        while (true)
        {
            _wake.Wait();
            if (_stop)
            {
                return;
            }

            _ready = 1;
            while (_go == 0)
            {
                Thread.SpinWait(1);
            }

            _body!(1);
            _done.Set();
        }
    }

    public void Dispose()
    {
        _stop = true;
        _wake.Release();
        _worker.Join();
        _wake.Dispose();
        _done.Dispose();
    }
}
