import Columnar
import Foundation
import Parquet

/// What `_failed/` holds for a partition set aside (`--max-failed-partitions`).
enum QuarantineRecord {
    /// The JSON written to `_failed/` for a quarantined partition: its input rows, and each
    /// failed batch's rows, error and traceback.
    static func json(job: JobPreparation, _ partition: Int, _ batches: [ResultMerger.FailedBatch]) -> Data {
        struct Record: Encodable {
            struct Batch: Encodable {
                var input: String
                var rows: [Int]
                var error: String
                var traceback: String?
            }
            var partition: Int
            /// The partition's rows: input files and rows of each (`[first, end)`).
            var inputs: [JobManifest.InputRows]
            var failedBatches: [Batch]
        }
        let p = job.plan.partitions[partition]
        let files = job.dataset.files
        let record = Record(partition: partition,
                            inputs: p.inputs.map { .init(file: files[$0.file].path, rows: [$0.rows.lowerBound, $0.rows.upperBound]) },
                            failedBatches: batches.map { batch in
                                let rows = job.plan.fileRows(of: batch.task)
                                return .init(input: files[job.plan.block(of: batch.task).file].path, rows: [rows.lowerBound, rows.upperBound],
                                             error: batch.reason, traceback: batch.traceback)
                            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(record)) ?? Data()
    }
}
