import Foundation
import MLflowModel

/// What a job did, for `--report FILE` (JSON) and the closing summary: totals, and per worker
/// the rows, batches and where the time went.
public struct JobReport: Codable, Sendable {
    /// One worker connection's share of the job.
    public struct Worker: Codable, Sendable {
        public var id: Int
        public var host: String
        public var pid: Int32
        public var peer: String
        public var loadSeconds: Double = 0
        public var rows: Int = 0
        public var batches: Int = 0
        /// Reading batch frames into column buffers, on the worker.
        public var decodeSeconds: Double = 0
        /// DataFrame, predict and result conversion, on the worker.
        public var predictSeconds: Double = 0
        /// Encoding and sending results, on the worker.
        public var encodeSeconds: Double = 0
        /// Round trips minus the worker's own time: in transit, or queued at the worker behind
        /// its other batches.
        public var networkSeconds: Double = 0
        /// Batches the model failed on.
        public var failures: Int = 0
        /// Why the coordinator gave up on this worker, if it did.
        public var lost: String?
    }

    /// succeeded, failed, interrupted, or partial (partitions quarantined).
    public var status: String = "running"
    public var error: String?
    public var seconds: Double = 0
    public var rows: Int = 0
    /// Rows scored by this run (the rest were committed by the run that was resumed).
    public var rowsScored: Int = 0
    public var partitions: Int = 0
    public var partitionsResumed: Int = 0
    public var partitionsQuarantined: Int = 0
    public var batches: Int = 0
    /// Batches sent again after a worker was lost (or after a model error, with --retry-model-errors).
    public var retries: Int = 0
    public var workersLost: Int = 0
    /// Decoding the input's Parquet, on the coordinator.
    public var readSeconds: Double = 0
    /// Writing and committing output files, on the coordinator.
    public var writeSeconds: Double = 0
    public var workers: [Worker] = []
    /// The model named by URI: its resolved identity and whether it was downloaded or cached.
    public var model: ModelOrigin?
    /// An input read from object storage: what it holds and what the job fetched.
    public var input: InputStorage?
    /// What the coordinator wrote while the workers started (`--head-start`), if anything.
    public var headStart: HeadStartWork?

    /// The part files' starts the coordinator wrote before the workers were ready.
    public struct HeadStartWork: Codable, Sendable {
        /// Part files started, and their bytes (kept chunks copied).
        public var heads: Int
        public var bytes: Int
        public var seconds: Double
        /// Heads the workers continued (the others' partitions were written from the start:
        /// handed out before their head was ready, or retried).
        public var continued: Int
    }

    /// What a job read from object storage.
    public struct InputStorage: Codable, Sendable {
        /// The `--input` URI.
        public var location: String
        public var objects: Int
        /// The objects' bytes in all.
        public var bytes: Int
        /// Bytes fetched (footers, the column chunks decoded or copied, retries' bytes once).
        public var bytesFetched: Int
        /// Requests sent, retries included; and retries alone.
        public var requests: Int
        public var retries: Int
    }

    public init() {}

    /// The report of a job that failed before it started (its model could not be fetched).
    public init(failedBeforeStart error: String) {
        status = "failed"
        self.error = error
    }

    /// Writes the report as JSON to `path`.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// A moment of a running job, for the progress line.
public struct JobProgress: Sendable {
    public var rowsDone: Int
    public var rowsTotal: Int
    public var seconds: Double
    /// Rows per second over the last few seconds.
    public var rowsPerSecond: Double
    public var workersAlive: Int
    public var retries: Int
    public var quarantined: Int
    public var stopping: Bool

    /// Seconds left at the current rate, if it can be told.
    public var secondsLeft: Double? {
        rowsPerSecond > 0 ? Double(rowsTotal - rowsDone) / rowsPerSecond : nil
    }
}
