import Columnar
import Foundation
import Wire

/// Writes finished blocks on its own thread, each as a row group of its partition's output
/// file, and commits the file (fsync, rename, manifest) when the partition's last block is
/// written. A partition with a failed batch is not written: it is described under `_failed/`.
final class OutputWriter: @unchecked Sendable {
    enum Output: Sendable {
        /// A block was written (its memory may be reused); its partition is committed (or
        /// described under `_failed/`) when it was the last.
        case wroteBlock(block: Int, seconds: Double)
        /// Everything submitted is written.
        case finished
        case failed(String)
    }

    /// What the writer is given, blocks in order.
    enum Item: Sendable {
        /// A scored block: its kept columns then the prediction column.
        case scored(block: Int, batch: RecordBatch)
        /// A block with failed batches: its partition is set aside.
        case failed(block: Int, batches: [ResultMerger.FailedBatch])
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
    /// The JSON that describes a quarantined partition.
    private let describeFailure: @Sendable (_ partition: Int, _ batches: [ResultMerger.FailedBatch]) -> Data
    private let queue = BlockingQueue<Item?>()
    private let deliver: @Sendable (Output) -> Void
    private let exited = DispatchSemaphore(value: 0)

    init(plan: JobPlan, inputPaths: [String], schema: Schema, committer: OutputCommitter, compression: ParquetCompression,
         describeFailure: @escaping @Sendable (Int, [ResultMerger.FailedBatch]) -> Data,
         deliver: @escaping @Sendable (Output) -> Void) {
        self.plan = plan
        self.inputPaths = inputPaths
        self.schema = schema
        self.committer = committer
        self.compression = compression
        self.describeFailure = describeFailure
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

    /// The partition being written.
    private struct Open {
        var partition: Int
        var writer: ParquetFileWriter?
        var rows = 0
        var failures: [ResultMerger.FailedBatch] = []
        var failed = false
    }

    private func run() {
        var open: Open?
        do {
            while let next = queue.pop(), let item = next {
                switch item {
                case .scored(let id, let batch):
                    let started = Date()
                    let block = plan.blocks[id]
                    if open?.partition != block.partition { open = Open(partition: block.partition) }
                    if !open!.failed {
                        if open!.writer == nil { open!.writer = try makeWriter(plan.outputFileName(of: block.partition)) }
                        try open!.writer!.write(batch)
                        open!.rows += batch.rowCount
                    }
                    try finishIfLast(block, &open)
                    deliver(.wroteBlock(block: id, seconds: Date().timeIntervalSince(started)))
                case .failed(let id, let batches):
                    let block = plan.blocks[id]
                    if open?.partition != block.partition { open = Open(partition: block.partition) }
                    if let writer = open!.writer {
                        try? writer.close()
                        try? FileManager.default.removeItem(atPath: committer.temporaryPath(for: plan.outputFileName(of: block.partition)))
                        open!.writer = nil
                    }
                    open!.failed = true
                    open!.failures += batches
                    try finishIfLast(block, &open)
                    deliver(.wroteBlock(block: id, seconds: 0))
                case .empty:
                    let name = plan.outputFileName(of: 0)
                    let writer = try makeWriter(name)
                    try writer.close()
                    try committer.commit(JobManifest.Entry(partition: 0, file: name, rows: 0, bytes: try size(of: name), input: "", inputRows: [0, 0]))
                case .finish:
                    deliver(.finished)
                    return
                }
            }
        } catch {
            deliver(.failed("\(error)"))
        }
    }

    /// After a partition's last block: commit its file, or describe it under `_failed/`.
    private func finishIfLast(_ block: JobPlan.Block, _ open: inout Open?) throws {
        let p = plan.partitions[block.partition]
        guard block.id == p.blocks.upperBound - 1, let state = open else { return }
        open = nil
        let name = plan.outputFileName(of: p.id)
        if state.failed {
            try committer.recordFailure(named: name.replacingOccurrences(of: ".parquet", with: ".json"),
                                        contents: describeFailure(p.id, state.failures))
            return
        }
        try state.writer!.close()
        try committer.commit(JobManifest.Entry(partition: p.id, file: name, rows: state.rows, bytes: try size(of: name),
                                               input: inputPaths[p.file], inputRows: [p.rows.lowerBound, p.rows.upperBound]))
    }

    /// A file writer under the temporary directory (fsynced when closed).
    private func makeWriter(_ name: String) throws -> ParquetFileWriter {
        try ParquetFileWriter(path: committer.temporaryPath(for: name), schema: schema, compression: compression,
                              createdBy: Self.createdBy, dictionary: false)
    }

    private func size(of name: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: committer.temporaryPath(for: name))[.size] as? Int) ?? 0
    }
}

/// Version information of this build.
public enum BuildInfo {
    public static let version = "0.1.0"
}
