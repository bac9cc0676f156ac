import Columnar
import Foundation

/// Decodes partitions in input order on its own thread, at most `maxBuffered` ahead of the
/// output writer, so that coordinator memory does not grow with the dataset.
final class PartitionReader: @unchecked Sendable {
    enum Output: Sendable {
        case decoded(partition: Int, batch: RecordBatch, seconds: Double)
        case finished
        case failed(String)
    }

    private let dataset: ParquetDataset
    private let plan: JobPlan
    /// The partitions to decode, in order (a resumed job skips committed ones).
    private let partitions: [Int]
    private let columnIndices: [[Int]]
    private let schema: Schema
    /// Partitions that may still be decoded before the writer catches up.
    private var credits: Int
    private var isStopped = false
    private let condition = NSCondition()
    private let deliver: @Sendable (Output) -> Void

    init(dataset: ParquetDataset, plan: JobPlan, partitions: [Int], columnIndices: [[Int]], schema: Schema, maxBuffered: Int,
         deliver: @escaping @Sendable (Output) -> Void) {
        self.dataset = dataset
        self.plan = plan
        self.partitions = partitions
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

    /// A buffered partition was written: one more may be decoded.
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

    /// Waits for a credit; false when stopped.
    private func acquire() -> Bool {
        condition.withLock {
            while credits == 0 && !isStopped { condition.wait() }
            credits -= 1
            return !isStopped
        }
    }

    private func run() {
        // The last row group decoded: a row group larger than a partition serves several.
        var cached: (file: Int, rowGroup: Int, batch: RecordBatch)?
        for id in partitions {
            guard acquire() else { return }
            let started = Date()
            let partition = plan.partitions[id]
            let reader = dataset.files[partition.file]
            var pieces: [RecordBatch] = []
            for segment in partition.segments {
                let whole: RecordBatch
                if let c = cached, c.file == partition.file, c.rowGroup == segment.rowGroup {
                    whole = c.batch
                } else {
                    cached = nil
                    do {
                        let decoded = try reader.readRowGroup(segment.rowGroup, columns: columnIndices[partition.file])
                        guard decoded.rowCount == reader.rowGroupRowCounts[segment.rowGroup] else {
                            deliver(.failed("\(reader.path), row group \(segment.rowGroup): decoded \(decoded.rowCount) rows, the footer says \(reader.rowGroupRowCounts[segment.rowGroup])"))
                            return
                        }
                        // Same names and types as the job's schema (nullability may differ per file).
                        whole = RecordBatch(schema: schema, columns: decoded.columns)
                    } catch {
                        deliver(.failed("\(error)"))
                        return
                    }
                    if segment.rows.count < whole.rowCount { cached = (partition.file, segment.rowGroup, whole) }
                }
                pieces.append(segment.rows.count == whole.rowCount ? whole : whole.slice(segment.rows))
            }
            let batch = pieces.count == 1 ? pieces[0]
                : RecordBatch(schema: schema, columns: schema.fields.indices.map { c in Column.concatenate(pieces.map { $0.columns[c] }) })
            deliver(.decoded(partition: id, batch: batch, seconds: Date().timeIntervalSince(started)))
        }
        deliver(.finished)
    }
}
