import Columnar
import Foundation
import Parquet
import PartitionIO

/// Decodes blocks in input order on its own thread, at most `maxBuffered` ahead of the output
/// writer, reading only the pages that hold each block's rows: coordinator memory is a few
/// blocks, whatever the sizes of the dataset, its files and their row groups.
final class PartitionReader: @unchecked Sendable {
    enum Output: Sendable {
        case decoded(block: Int, batch: RecordBatch, seconds: Double)
        case finished
        /// Stopped at a partition boundary, as asked (the job is being interrupted).
        case paused
        case failed(String)
    }

    private let dataset: ParquetDataset
    private let plan: JobPlan
    /// The blocks to decode, in order (a resumed job skips committed partitions).
    private let blocks: [Int]
    private let columnIndices: [[Int]]
    private let schema: Schema
    /// The model's columns lead `columnIndices`; a partition whose kept columns are copied
    /// decodes only those.
    private let modelColumnCount: Int
    private let copiesKeptColumns: [Bool]
    /// Blocks that may still be decoded before the writer catches up.
    private var credits: Int
    private var isStopped = false
    private var pauseAtPartitionEnd = false
    private let condition = NSCondition()
    private let deliver: @Sendable (Output) -> Void

    init(dataset: ParquetDataset, plan: JobPlan, blocks: [Int], columnIndices: [[Int]], schema: Schema,
         modelColumnCount: Int, copiesKeptColumns: [Bool], maxBuffered: Int, deliver: @escaping @Sendable (Output) -> Void) {
        self.modelColumnCount = modelColumnCount
        self.copiesKeptColumns = copiesKeptColumns
        self.dataset = dataset
        self.plan = plan
        self.blocks = blocks
        self.columnIndices = columnIndices
        self.schema = schema
        self.credits = maxBuffered
        self.deliver = deliver
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "partition-reader"
        thread.start()
    }

    /// A buffered block was written: one more may be decoded.
    func release() {
        condition.withLock {
            credits += 1
            condition.signal()
        }
    }

    func stop() {
        condition.withLock {
            isStopped = true
            condition.signal()
        }
    }

    /// Decode the rest of the partition under way (so that it can be committed), then stop.
    func pauseAtPartitionBoundary() {
        condition.withLock { pauseAtPartitionEnd = true }
    }

    /// Waits for a credit; false when stopped.
    private func acquire() -> Bool {
        condition.withLock {
            while credits == 0 && !isStopped { condition.wait() }
            credits -= 1
            return !isStopped
        }
    }

    private func run() {
        var previousPartition: Int?
        // One range reader for the file being read: consecutive blocks decode each page about once.
        var rangeReader: ParquetRangeReader?
        var readAhead = ReadAhead()
        for (position, id) in blocks.enumerated() {
            let block = plan.blocks[id]
            guard acquire() else { return }
            if block.partition != previousPartition && condition.withLock({ pauseAtPartitionEnd }) {
                deliver(.paused)
                return
            }
            previousPartition = block.partition
            let started = Date()
            let reader = dataset.files[block.file]
            let modelOnly = copiesKeptColumns[block.partition]
            let indices = modelOnly ? Array(columnIndices[block.file].prefix(modelColumnCount)) : columnIndices[block.file]
            let schema = modelOnly ? Schema(Array(self.schema.fields.prefix(modelColumnCount))) : self.schema
            // Under --merge-schema a file may lack a column (index -1): it is read without it,
            // and the column made of nulls.
            let wanted = indices.filter { $0 >= 0 }
            readAhead.hint(from: position, blocks: blocks, plan: plan) { file, rowGroup, partition in
                let columns = copiesKeptColumns[partition] ? Array(columnIndices[file].prefix(modelColumnCount)) : columnIndices[file]
                dataset.files[file].prefetch(rowGroup: rowGroup, columns: columns.filter { $0 >= 0 })
            }
            if rangeReader?.file !== reader || rangeReader?.columns != wanted {
                rangeReader = ParquetRangeReader(file: reader, columns: wanted)
            }
            var pieces: [RecordBatch] = []
            for segment in block.segments {
                do {
                    // A file with none of the columns (--merge-schema) is read as nothing but its rows.
                    var columns: [Column] = []
                    if !wanted.isEmpty {
                        let decoded = try rangeReader!.read(rowGroup: segment.rowGroup, rows: segment.rows)
                        guard decoded.rowCount == segment.rows.count else {
                            deliver(.failed("\(reader.path), row group \(segment.rowGroup): decoded \(decoded.rowCount) rows, expected \(segment.rows.count)"))
                            return
                        }
                        columns = decoded.columns
                    }
                    // Same names and types as the job's schema (nullability may differ per file).
                    let partitioning = dataset.partitioning, file = block.file, rows = segment.rows.count
                    pieces.append(RecordBatch(schema: schema, columns: try ColumnConformance.conform(columns, indices: indices, to: schema,
                                                                                         rows: rows, file: reader.path,
                                                                                         partitionValue: { partitioning!.column(key: $0, file: file, rows: rows) })))
                } catch {
                    deliver(.failed("\(error)"))
                    return
                }
            }
            let batch = RecordBatch.concatenate(pieces)
            deliver(.decoded(block: id, batch: batch, seconds: Date().timeIntervalSince(started)))
        }
        deliver(.finished)
    }

    /// Which row groups to ask a remote input for before they are read: the next
    /// `rowGroups` distinct ones after the block being decoded (a local file ignores the hint).
    struct ReadAhead {
        var rowGroups = 2
        private var hinted: Set<[Int]> = []

        init() {}

        mutating func hint(from position: Int, blocks: [Int], plan: JobPlan,
                           _ prefetch: (_ file: Int, _ rowGroup: Int, _ partition: Int) -> Void) {
            let here = plan.blocks[blocks[position]]
            var seen = Set(here.segments.map { [here.file, $0.rowGroup] })
            let current = seen.count
            var next = position + 1
            while seen.count - current < rowGroups && next < blocks.count && next <= position + 64 {
                let block = plan.blocks[blocks[next]]
                for segment in block.segments where seen.insert([block.file, segment.rowGroup]).inserted {
                    if hinted.insert([block.file, segment.rowGroup]).inserted { prefetch(block.file, segment.rowGroup, block.partition) }
                }
                next += 1
            }
        }
    }
}
