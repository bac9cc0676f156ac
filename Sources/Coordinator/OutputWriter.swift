import Columnar
import Foundation
import Wire

/// Writes finished partitions, in input order, as row groups of one output part file per
/// input file, on its own thread; commits each file when its last partition is written.
final class OutputWriter: @unchecked Sendable {
    enum Output: Sendable {
        /// A partition was written (its memory may be reused).
        case wrote(partition: Int, rows: Int)
        /// Every file is committed.
        case finished
        case failed(String)
    }

    static let createdBy = "score-cluster version \(BuildInfo.version)"

    private let plan: JobPlan
    private let fileNames: [String]
    private let schema: Schema
    private let committer: OutputCommitter
    private let compression: ParquetCompression
    private let queue = BlockingQueue<(partition: Int, batch: RecordBatch)?>()
    private let deliver: @Sendable (Output) -> Void

    init(plan: JobPlan, fileNames: [String], schema: Schema, committer: OutputCommitter,
         compression: ParquetCompression, deliver: @escaping @Sendable (Output) -> Void) {
        self.plan = plan
        self.fileNames = fileNames
        self.schema = schema
        self.committer = committer
        self.compression = compression
        self.deliver = deliver
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "output-writer"
        thread.start()
    }

    /// Queues the next partition in order (its kept columns then the prediction column).
    func submit(partition: Int, batch: RecordBatch) { queue.push((partition, batch)) }

    /// Stops after what is queued (used when the job fails).
    func stop() { queue.push(nil) }

    private func run() {
        var file = 0
        var writer: ParquetFileWriter?
        do {
            for partition in plan.partitions {
                // Files before this partition's (including empty ones) are complete.
                while file < partition.file {
                    try finishFile(file, writer: writer)
                    writer = nil
                    file += 1
                }
                guard let item = queue.pop(), let next = item as (partition: Int, batch: RecordBatch)? else { return }
                precondition(next.partition == partition.id, "partitions submitted out of order")
                if writer == nil { writer = try open(file) }
                try writer!.write(next.batch)
                deliver(.wrote(partition: partition.id, rows: next.batch.rowCount))
            }
            while file < fileNames.count {
                try finishFile(file, writer: writer)
                writer = nil
                file += 1
            }
            deliver(.finished)
        } catch {
            deliver(.failed("\(error)"))
        }
    }

    private func open(_ file: Int) throws -> ParquetFileWriter {
        try ParquetFileWriter(path: committer.temporaryPath(for: fileNames[file]), schema: schema,
                              compression: compression, createdBy: Self.createdBy, dictionary: false)
    }

    private func finishFile(_ file: Int, writer: ParquetFileWriter?) throws {
        // An input file with no rows still gets its (empty) output file.
        let w = try writer ?? open(file)
        try w.close()
        try committer.commit(fileNames[file])
    }
}

/// Version information of this build.
public enum BuildInfo {
    public static let version = "0.1.0"
}
