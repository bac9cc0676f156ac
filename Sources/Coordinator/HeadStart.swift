import Columnar
import Foundation
import Logging
import Parquet
import PartitionIO
import Wire

/// The I/O a `--workers-read` job does before any worker is ready. Starting a worker takes
/// seconds (the interpreter, the model's imports, its load) in which the coordinator has
/// nothing to do, so a thread of its own uses them, partition by partition in hand-out order:
/// it writes the part file's start that does not depend on the predictions (`PartHead`: the
/// magic and the first row group's kept chunks, copied within the kernel, its write-back
/// started) and asks the kernel to read the partition's model columns into the page cache
/// (local input; a worker reads an object store itself). It stops once the first partition is
/// handed out: from then on the workers do the same I/O themselves, on cores they keep busy.
/// A head goes with its partition's first attempt (`take`); a head it cannot write is left to
/// the worker, which then reports whatever is wrong in the input or the output itself.
final class HeadStart: @unchecked Sendable {
    /// A partition whose part file copies kept chunks, so that it can be started ahead.
    struct Item: Sendable {
        var partition: Int
        /// The dataset file and row group its first rows are in, and that file's kept columns.
        var file: Int
        var rowGroup: Int
        var keptChunks: [Int]
        /// Its input row groups and, per file, the model's columns in it.
        var reads: [(file: Int, rowGroups: Range<Int>, columns: [Int])]
    }

    /// What the head start did, for the report.
    struct Summary: Sendable {
        var heads = 0
        var bytes = 0
        var seconds = 0.0
    }

    private let items: [Item]
    private let files: [ParquetFileReader]
    private let temporaryDirectory: String
    private let schema: Schema
    private let compression: ParquetCompression
    private let createdBy: String
    private let logger: Logger
    private let lock = NSLock()
    private var stopping = false
    private var heads: [Int: PartitionTask.Head] = [:]
    private var done = Summary()
    private let exited = DispatchSemaphore(value: 0)
    private var started = false

    init(items: [Item], files: [ParquetFileReader], temporaryDirectory: String, schema: Schema, compression: ParquetCompression,
         createdBy: String, logger: Logger) {
        self.items = items
        self.files = files
        self.temporaryDirectory = temporaryDirectory
        self.schema = schema
        self.compression = compression
        self.createdBy = createdBy
        self.logger = logger
    }

    /// The partitions of `order` (hand-out order) a head start can begin: those whose kept
    /// columns are copied (`copies`, by partition; `keptChunks`, by file).
    static func items(plan: JobPlan, order: [Int], copies: [Bool], keptChunks: [[Int]?], modelColumns: [[Int]]) -> [Item] {
        order.compactMap { id in
            let partition = plan.partitions[id]
            guard copies[id], let first = partition.inputs.first, let groups = first.rowGroups, !groups.isEmpty,
                  let kept = keptChunks[first.file] else { return nil }
            let reads = partition.inputs.compactMap { input in
                input.rowGroups.map { (file: input.file, rowGroups: $0, columns: modelColumns[input.file]) }
            }
            return Item(partition: id, file: first.file, rowGroup: groups.lowerBound, keptChunks: kept, reads: reads)
        }
    }

    func start() {
        guard !items.isEmpty else { return }
        started = true
        let thread = Thread { [self] in
            run()
            exited.signal()
        }
        thread.name = "head-start"
        thread.start()
    }

    /// Begins no other head (the one under way is finished and kept for its partition).
    func stop() { lock.withLock { stopping = true } }

    /// Stops and waits for the thread: the job's temporary area is about to go.
    func finish() {
        stop()
        if started { exited.wait(); started = false }
    }

    /// The head written for `partition`, given once (to its first attempt).
    func take(_ partition: Int) -> PartitionTask.Head? {
        lock.withLock { heads.removeValue(forKey: partition) }
    }

    var summary: Summary { lock.withLock { done } }

    private func run() {
        for item in items {
            guard !lock.withLock({ stopping }) else { break }
            let began = Date()
            for read in item.reads where files[read.file].isLocal {
                for group in read.rowGroups { files[read.file].prefetch(rowGroup: group, columns: read.columns) }
            }
            let name = PartHead.name(of: item.partition)
            let path = temporaryDirectory + "/" + name
            do {
                let bytes = try PartHead.write(at: path, schema: schema, compression: compression, createdBy: createdBy,
                                               file: files[item.file], rowGroup: item.rowGroup, copying: item.keptChunks)
                lock.withLock {
                    heads[item.partition] = PartitionTask.Head(name: name, bytes: bytes)
                    done.heads += 1
                    done.bytes += bytes
                    done.seconds += Date().timeIntervalSince(began)
                }
            } catch {
                // The worker meets the same problem and reports it with its partition.
                logger.debug("head start: stopped at partition \(item.partition): \(error)")
                break
            }
        }
        let work = summary
        logger.debug("head start: began \(work.heads) of \(items.count) part files (\(work.bytes) bytes of kept chunks) in \(String(format: "%.2f", work.seconds)) s")
    }
}
