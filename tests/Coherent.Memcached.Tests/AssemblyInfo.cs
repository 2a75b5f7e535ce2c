// Process-level faults (SIGSTOP, kill -9) and timing bounds: run one at a time on 2 cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
