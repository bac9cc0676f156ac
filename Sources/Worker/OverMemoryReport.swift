import Wire

/// What a worker over its memory limit tells the coordinator before it stops: which batch it
/// was scoring (or that it was loading the model), and the numbers. Pure, for tests.
public enum OverMemoryReport {
    /// What the worker was doing when its memory went over the limit.
    public enum Activity: Sendable, Equatable {
        /// Between batches, or before a job.
        case idle
        /// Loading the job's model.
        case loading
        /// Scoring batch `task`.
        case scoring(UInt64)
    }

    /// Where the limit came from, to name the option to change.
    public enum Origin: Sendable, Equatable {
        /// The job's `--worker-memory` (sent by the coordinator).
        case job
        /// The worker's own `--memory-limit`.
        case worker

        var option: String {
            switch self {
            case .job: "--worker-memory"
            case .worker: "the worker's --memory-limit"
            }
        }
    }

    /// The failure to send. Loading a model over the limit is a load failure (every worker
    /// would fail alike); over it while scoring blames that batch; idle names none.
    public static func failure(_ exceeded: MemoryWatchdog.Exceeded, activity: Activity, origin: Origin,
                               peakBytes: Int?) -> WorkerFailure {
        let limit = exceeded.limit.megabytes
        var numbers = "resident \(exceeded.residentBytes >> 20) MB"
        if let peakBytes, peakBytes > exceeded.residentBytes { numbers += ", peak \(peakBytes >> 20) MB" }
        let stopped = "the worker stopped (limit: \(origin.option) \(limit))"
        switch activity {
        case .loading:
            return WorkerFailure(kind: .modelLoad, message: "loading the model used more than \(limit) MB of memory (\(numbers)); \(stopped)")
        case .scoring(let task):
            return WorkerFailure(kind: .memoryLimit, taskID: task,
                                 message: "the model used more than \(limit) MB of memory while scoring this batch (\(numbers)); \(stopped)")
        case .idle:
            return WorkerFailure(kind: .memoryLimit,
                                 message: "the worker's memory went over \(limit) MB between batches (\(numbers)); \(stopped)")
        }
    }
}
