// Timing-sensitive tests (propagation latency, staleness bounds) and process-level faults: run one at a time on 2 cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
