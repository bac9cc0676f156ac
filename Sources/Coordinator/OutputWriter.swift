import Columnar
import Foundation
import Wire

/// Writes finished partitions, each as one output file, on its own thread, and commits each
/// one (fsync, rename, manifest) as soon as it is written.
final class OutputWriter: @unchecked Sendable {
    enum Output: Sendable {
        /// A partition was committed (its memory may be reused).
        case wrote(partition: Int, rows: Int, seconds: Double)
        /// A quarantined partition was described under `_failed/`.
        case quarantined(partition: Int)
        /// Everything submitted is written.
        case finished
        case failed(String)
    }

    /// What the writer is given, in order.
    enum Item: Sendable {
        /// A scored partition: its kept columns then the prediction column.
        case scored(partition: Int, batch: RecordBatch)
        /// A partition set aside: the JSON that describes it.
        case quarantined(partition: Int, description: Data)
        /// An empty file with the output schema (a job whose input has no rows).
        case empty
        /// Nothing more will come.
        case finish
    }

    static let createdBy = "score-cluster version \(BuildInfo.version)"

    private let plan: JobPlan
    private let inputPaths: [String]
    private let schema: Schema
    private let committer: OutputCommitter
    private let compression: ParquetCompression
    private let queue = BlockingQueue<Item?>()
    private let deliver: @Sendable (Output) -> Void
    private let exited = DispatchSemaphore(value: 0)

    init(plan: JobPlan, inputPaths: [String], schema: Schema, committer: OutputCommitter,
         compression: ParquetCompression, deliver: @escaping @Sendable (Output) -> Void) {
        self.plan = plan
        self.inputPaths = inputPaths
        self.schema = schema
        self.committer = committer
        self.compression = compression
        self.deliver = deliver
    }

    func start() {
        let thread = Thread { [self] in
            run()
            exited.signal()
        }
        thread.name = "output-writer"
        thread.start()
    }

    func submit(_ item: Item) { queue.push(item) }

    /// Stops after what is queued (used when the job fails) and waits until the thread is done,
    /// so that nothing is committed after the job is wound down.
    func stop() {
        queue.push(nil)
        exited.wait()
    }

    private func run() {
        do {
            while let next = queue.pop(), let item = next {
                switch item {
                case .scored(let id, let batch):
                    let started = Date()
                    let p = plan.partitions[id]
                    let name = plan.outputFileName(of: id)
                    let bytes = try write(batch, to: name)
                    try committer.commit(JobManifest.Entry(partition: id, file: name, rows: batch.rowCount, bytes: bytes,
                                                           input: inputPaths[p.file], inputRows: [p.rows.lowerBound, p.rows.upperBound]))
                    deliver(.wrote(partition: id, rows: batch.rowCount, seconds: Date().timeIntervalSince(started)))
                case .quarantined(let id, let description):
                    try committer.recordFailure(named: plan.outputFileName(of: id).replacingOccurrences(of: ".parquet", with: ".json"),
                                                contents: description)
                    deliver(.quarantined(partition: id))
                case .empty:
                    let name = plan.outputFileName(of: 0)
                    let bytes = try write(nil, to: name)
                    try committer.commit(JobManifest.Entry(partition: 0, file: name, rows: 0, bytes: bytes, input: "", inputRows: [0, 0]))
                case .finish:
                    deliver(.finished)
                    return
                }
            }
        } catch {
            deliver(.failed("\(error)"))
        }
    }

    /// Writes and fsyncs a partition's file under the temporary directory; returns its size.
    private func write(_ batch: RecordBatch?, to name: String) throws -> Int {
        let path = committer.temporaryPath(for: name)
        let writer = try ParquetFileWriter(path: path, schema: schema, compression: compression,
                                           createdBy: Self.createdBy, dictionary: false)
        if let batch, batch.rowCount > 0 { try writer.write(batch) }
        try writer.close()
        return (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}

/// Version information of this build.
public enum BuildInfo {
    public static let version = "0.1.0"
}
