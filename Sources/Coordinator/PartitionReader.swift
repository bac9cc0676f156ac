import Columnar
import Foundation

/// Decodes partitions in input order on its own thread, at most `maxBuffered` ahead of the
/// output writer, so that coordinator memory does not grow with the dataset.
final class PartitionReader: @unchecked Sendable {
    enum Output: Sendable {
        case decoded(partition: Int, batch: RecordBatch)
        case finished
        case failed(String)
    }

    private let dataset: ParquetDataset
    private let plan: JobPlan
    private let columnIndices: [[Int]]
    private let schema: Schema
    /// Partitions that may still be decoded before the writer catches up.
    private var credits: Int
    private var isStopped = false
    private let condition = NSCondition()
    private let deliver: @Sendable (Output) -> Void

    init(dataset: ParquetDataset, plan: JobPlan, columnIndices: [[Int]], schema: Schema, maxBuffered: Int,
         deliver: @escaping @Sendable (Output) -> Void) {
        self.dataset = dataset
        self.plan = plan
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
        var cached: (file: Int, rowGroup: Int, batch: RecordBatch)?
        for partition in plan.partitions {
            guard acquire() else { return }
            let batch: RecordBatch
            if let c = cached, c.file == partition.file, c.rowGroup == partition.rowGroup {
                batch = c.batch
            } else {
                let reader = dataset.files[partition.file]
                do {
                    let decoded = try reader.readRowGroup(partition.rowGroup, columns: columnIndices[partition.file])
                    guard decoded.rowCount == reader.rowGroupRowCounts[partition.rowGroup] else {
                        deliver(.failed("\(reader.path), row group \(partition.rowGroup): decoded \(decoded.rowCount) rows, the footer says \(reader.rowGroupRowCounts[partition.rowGroup])"))
                        return
                    }
                    // Same names and types as the job's schema (nullability may differ per file).
                    batch = RecordBatch(schema: schema, columns: decoded.columns)
                } catch {
                    deliver(.failed("\(error)"))
                    return
                }
                cached = (partition.file, partition.rowGroup, batch)
            }
            deliver(.decoded(partition: partition.id, batch: batch.slice(partition.rows)))
        }
        deliver(.finished)
    }
}
