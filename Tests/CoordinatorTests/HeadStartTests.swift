import Foundation
import Logging
import Testing
import TestSupport
import Columnar
import Parquet
@testable import PartitionIO
import Wire
@testable import Coordinator

/// The coordinator's I/O while the workers start (`HeadStart`), and a worker's `PartitionScorer`
/// taking its heads over, without sockets or Python: which partitions get a head, each head
/// given once, and a part file continued from a head byte for byte the one written whole.
@Suite("Head start: part files begun while the workers start")
struct HeadStartTests {
    @Test("heads are planned in hand-out order, only for partitions whose kept chunks are copied")
    func planning() {
        // Two files: the first of row groups 4 and 4 rows, the second of one of 3; a partition per row group.
        let plan = JobPlan(rowGroups: [[4, 4], [3]], batchSize: 2, partitionRows: 4, blockRows: 2)
        #expect(plan.partitions.count == 3)
        let items = HeadStart.items(plan: plan, order: [2, 0, 1], copies: [true, false, true], keptChunks: [[1, 2], [0]],
                                    modelColumns: [[0], [1]])
        #expect(items.map(\.partition) == [2, 0])
        #expect(items.map(\.file) == [1, 0] && items.map(\.rowGroup) == [0, 0])
        #expect(items.map(\.keptChunks) == [[0], [1, 2]])
        #expect(items[0].reads.map(\.file) == [1] && items[0].reads[0].columns == [1])
        // A file whose kept columns cannot be copied gives no head, whatever the partition says.
        #expect(HeadStart.items(plan: plan, order: [0, 1, 2], copies: [true, true, true], keptChunks: [nil, [0]],
                                modelColumns: [[0], [1]]).map(\.partition) == [2])
    }

    /// Two pyarrow files of 3,000 rows in row groups of 1,000 (`id`, `x`), in `dir`.
    static func inputs(in dir: URL) throws -> [ParquetFileReader] {
        let paths = (0..<2).map { dir.appendingPathComponent("in-\($0).parquet").path }
        try TestEnvironment.runPython("""
            import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            for f, path in enumerate(sys.argv[1:]):
                ids = np.arange(3000, dtype=np.int64) + 3000 * f
                pq.write_table(pa.table({'id': ids, 'x': ids * 0.5}), path, row_group_size=1000)
            """, paths)
        return try paths.map { try ParquetFileReader(path: $0) }
    }

    @Test("the thread writes heads until stopped, each taken once; a worker continuing one writes the file it writes alone")
    func headsContinuedByTheScorer() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("head-start")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try Self.inputs(in: dir)
        let temporary = dir.appendingPathComponent("_temporary").path
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let fields = [Field(name: "x", type: .float64, nullable: true), Field(name: "id", type: .int64, nullable: true)]
        let prediction = Field(name: "prediction", type: .float64, nullable: true)
        // The model reads x; the output keeps id and x.
        let outputSchema = Schema([fields[1], fields[0], prediction])
        let plan = JobPlan(rowGroups: files.map(\.rowGroupRowCounts), batchSize: 250, partitionRows: 1000, blockRows: 500)
        let order = Array(plan.partitions.indices)
        let items = HeadStart.items(plan: plan, order: order, copies: order.map { _ in true }, keptChunks: [[0, 1], [0, 1]],
                                    modelColumns: [[1], [1]])
        let headStart = HeadStart(items: items, files: files, temporaryDirectory: temporary, schema: outputSchema,
                                  compression: .snappy, createdBy: "test", logger: Logger(label: "test"))
        headStart.start()
        let deadline = Date().addingTimeInterval(60)
        while headStart.summary.heads < 6 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        headStart.finish()
        #expect(headStart.summary.heads == 6)
        #expect(headStart.summary.bytes > 6 * 8_000, "each head holds 1,000 rows of two 8-byte columns")
        let head = try #require(headStart.take(4))
        #expect(headStart.take(4) == nil)
        #expect(FileManager.default.fileExists(atPath: temporary + "/" + head.name))

        let spec = WorkersReadSpec(decodeFields: fields.map(WireField.init), modelColumns: [0], keptColumns: [1, 0], partitionKeys: [],
                                   outputColumn: "prediction", batchSize: 250, blockRows: 500, compression: "snappy",
                                   verifyChecksums: false, createdBy: "test")
        let scorer = try PartitionScorer(spec: spec, resultType: .float64)
        func task(attempt: Int, head: PartitionTask.Head?) -> PartitionTask {
            let input = plan.partitions[4].inputs[0]
            var task = PartitionTask(partition: 4, attempt: attempt,
                                     inputs: [.init(path: files[input.file].path, bytes: files[input.file].byteCount, rows: input.rows, directory: "")],
                                     firstBatch: 0, copiesKeptColumns: true, temporaryDirectory: temporary,
                                     outputName: "part-00004.attempt-\(attempt).parquet")
            task.head = head
            return task
        }
        let predict: PartitionScorer.Predict = { columns, rows, _ in
            .fixed(.float64, columns[0].array(of: Double.self).map { $0 * 2 + 1 })
        }
        let alone = try scorer.score(task(attempt: 1, head: nil), predict: predict)
        let continued = try scorer.score(task(attempt: 2, head: head), predict: predict)
        #expect(!alone.continuedHead && continued.continuedHead)
        #expect(!FileManager.default.fileExists(atPath: temporary + "/" + head.name), "the head became the part file")
        #expect(FileManager.default.contents(atPath: continued.path) == FileManager.default.contents(atPath: alone.path))
        #expect(try ParquetFileReader(path: continued.path).rowCount == 1000)

        // A head another attempt took already, or one written for another partition, leaves the file to be written whole.
        let gone = try scorer.score(task(attempt: 3, head: head), predict: predict)
        #expect(!gone.continuedHead)
        let other = try #require(headStart.take(1))
        let wrong = try scorer.score(task(attempt: 4, head: .init(name: other.name, bytes: other.bytes + 1)), predict: predict)
        #expect(!wrong.continuedHead)
        for written in [gone, wrong] {
            #expect(FileManager.default.contents(atPath: written.path) == FileManager.default.contents(atPath: alone.path))
        }
    }

    @Test("stopped before it starts, it writes nothing")
    func stoppedAtOnce() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("head-start-stopped")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try Self.inputs(in: dir)
        let plan = JobPlan(rowGroups: files.map(\.rowGroupRowCounts), batchSize: 250, partitionRows: 1000, blockRows: 500)
        let order = Array(plan.partitions.indices)
        let headStart = HeadStart(items: HeadStart.items(plan: plan, order: order, copies: order.map { _ in true },
                                                         keptChunks: [[0], [0]], modelColumns: [[1], [1]]),
                                  files: files, temporaryDirectory: dir.path,
                                  schema: Schema([Field(name: "id", type: .int64, nullable: true), Field(name: "p", type: .float64, nullable: true)]),
                                  compression: .snappy, createdBy: "test", logger: Logger(label: "test"))
        headStart.stop()
        headStart.start()
        headStart.finish()
        #expect(headStart.summary.heads == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("head-") }.isEmpty)
    }
}
