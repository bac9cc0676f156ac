import Columnar
import Foundation
import Wire
import Parquet
import PartitionIO

/// Writes finished blocks on its own thread into their partition's output file, and commits the
/// file (fsync, rename, manifest) when the partition's last block is written. A block is one
/// row group, or, in a partition whose kept columns are copied, its predictions wait for the
/// end of their input row group, which is written as one row group of copied kept chunks and
/// the predictions. A partition with a failed batch is not written: it is described under `_failed/`.
///
/// Commits (footer, fsync, rename, manifest line) run in order on a second thread, at most
/// `maxPendingCommits` behind: the disk flushes one partition while the next is written.
final class OutputWriter: @unchecked Sendable {
    enum Output: Sendable {
        /// A block was written (its memory may be reused); its partition is committed (or
        /// described under `_failed/`) when it was the last.
        case wroteBlock(block: Int, seconds: Double)
        /// Everything submitted is written.
        case finished
        case failed(String)
        /// A kept column chunk to copy is corrupt: the input is at fault, not the output.
        case inputFailed(String)
    }

    /// A corrupt input chunk met while copying it.
    private struct CorruptInput: Error {
        let error: any Error
    }

    /// What the writer is given, blocks in order.
    enum Item: Sendable {
        /// A scored block: its kept columns then the prediction column (the prediction column
        /// alone when its partition's kept columns are copied).
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
    private let files: [ParquetFileReader]
    /// Per partition, whether its kept columns are copied from the input (else they come decoded).
    private let copiesKeptColumns: [Bool]
    /// Per input file, its columns copied as the kept columns.
    private let keptChunkColumns: [[Int]?]
    private let schema: Schema
    private let committer: any JobOutput
    private let compression: ParquetCompression
    /// The JSON that describes a quarantined partition.
    private let describeFailure: @Sendable (_ partition: Int, _ batches: [ResultMerger.FailedBatch]) -> Data
    private let queue = BlockingQueue<Item?>()
    private let deliver: @Sendable (Output) -> Void
    private let exited = DispatchSemaphore(value: 0)
    /// A commit step, run on the commit thread. (It owns what it captures: the writer thread
    /// no longer touches a partition it handed over.)
    private struct Commit: @unchecked Sendable {
        let run: () throws -> Void
    }
    private let commits = BlockingQueue<Commit?>()
    private static let maxPendingCommits = 2
    private let commitSlots = DispatchSemaphore(value: OutputWriter.maxPendingCommits)
    private let commitsExited = DispatchSemaphore(value: 0)

    init(plan: JobPlan, files: [ParquetFileReader], schema: Schema, copiesKeptColumns: [Bool], keptChunkColumns: [[Int]?],
         committer: any JobOutput,
         compression: ParquetCompression,
         describeFailure: @escaping @Sendable (Int, [ResultMerger.FailedBatch]) -> Data,
         deliver: @escaping @Sendable (Output) -> Void) {
        self.plan = plan
        self.files = files
        self.copiesKeptColumns = copiesKeptColumns
        self.keptChunkColumns = keptChunkColumns
        self.schema = schema
        self.committer = committer
        self.compression = compression
        self.describeFailure = describeFailure
        self.deliver = deliver
    }

    func start() {
        let committer = Thread { [self] in
            runCommits()
            commitsExited.signal()
        }
        committer.name = "output-commit"
        committer.start()
        let thread = Thread { [self] in
            run()
            // Commits already handed over finish before the writer counts as stopped.
            commits.push(nil)
            commitsExited.wait()
            exited.signal()
        }
        thread.name = "output-writer"
        thread.start()
    }

    /// Hands `step` to the commit thread, waiting while `maxPendingCommits` are pending.
    private func commitLater(_ step: @escaping () throws -> Void) {
        commitSlots.wait()
        commits.push(Commit(run: step))
    }

    private func runCommits() {
        var failed = false
        while let next = commits.pop(), let commit = next {
            defer { commitSlots.signal() }
            // After a failed commit nothing more is committed: the job fails.
            guard !failed else { continue }
            do { try commit.run() } catch {
                failed = true
                deliver(.failed("\(error)"))
            }
        }
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
        /// Blocks of small files not written yet.
        var pending: [RecordBatch] = []
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
                        if copiesKeptColumns[block.partition], let columns = keptChunkColumns[block.file] {
                            try writeCopying(columns, block: block, predictions: batch, &open!)
                        } else {
                            try writeGathering(batch, block: block, &open!)
                        }
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
                    commitLater { [self] in
                        try writer.close()
                        try committer.commit(JobManifest.Entry(partition: 0, file: name, rows: 0, bytes: try size(of: name), inputs: []))
                    }
                case .finish:
                    commitLater { [self] in deliver(.finished) }
                    return
                }
            }
        } catch let corrupt as CorruptInput {
            deliver(.inputFailed("\(corrupt.error)"))
        } catch {
            deliver(.failed("\(error)"))
        }
    }

    /// Writes a block as a row group; blocks of small files (a block never spans two files) are
    /// gathered up to `blockRows` first, so that many tiny files do not make tiny row groups.
    private func writeGathering(_ batch: RecordBatch, block: JobPlan.Block, _ open: inout Open) throws {
        let last = block.id == plan.partitions[block.partition].blocks.upperBound - 1
        open.pending.append(batch)
        let rows = open.pending.reduce(0) { $0 + $1.rowCount }
        guard rows >= plan.blockRows || last else { return }
        let batch = RecordBatch.concatenate(open.pending)
        open.pending = []
        try open.writer!.write(batch)
    }

    /// Writes a block's predictions into the output row groups that mirror its input row
    /// groups (`KeptChunkCopy`): the predictions follow as they come, page by page, so that
    /// neither an input row group's predictions nor their encoding are ever held whole.
    private func writeCopying(_ columns: [Int], block: JobPlan.Block, predictions: RecordBatch, _ open: inout Open) throws {
        do {
            try KeptChunkCopy.append(predictions, segments: block.segments, copying: columns, from: files[block.file], into: open.writer!)
        } catch let corrupt as KeptChunkCopy.CorruptInput {
            throw CorruptInput(error: corrupt.error)
        }
    }

    /// After a partition's last block: commit its file, or describe it under `_failed/`.
    private func finishIfLast(_ block: JobPlan.Block, _ open: inout Open?) throws {
        let p = plan.partitions[block.partition]
        guard block.id == p.blocks.upperBound - 1, let state = open else { return }
        open = nil
        let name = plan.outputFileName(of: p.id)
        if state.failed {
            let contents = describeFailure(p.id, state.failures)
            commitLater { [committer] in
                try committer.recordFailure(named: name.replacingOccurrences(of: ".parquet", with: ".json"), contents: contents)
            }
            return
        }
        let writer = state.writer!
        let entry = JobManifest.Entry(partition: p.id, file: name, rows: state.rows, bytes: 0,
                                      inputs: p.inputs.map { .init(file: files[$0.file].path, rows: [$0.rows.lowerBound, $0.rows.upperBound]) })
        commitLater { [self] in
            try writer.close()
            var sized = entry
            sized.bytes = try size(of: name)
            try committer.commit(sized)
        }
    }

    /// A file writer under the temporary directory (fsynced when closed).
    private func makeWriter(_ name: String) throws -> ParquetFileWriter {
        // A file of a mirrored partition directory (`date=2026-12-01/part-00003.parquet`).
        if name.contains("/") {
            try FileManager.default.createDirectory(atPath: (committer.temporaryPath(for: name) as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
        }
        return try ParquetFileWriter(path: committer.temporaryPath(for: name), schema: schema, compression: compression,
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
