import Columnar
import Foundation
import Testing
@testable import MLflowModel
@testable import Wire

/// The `--workers-read` messages: a partition task one way, its part file the other, and the
/// job's description of what to decode, with types that survive the trip.
@Suite("Partition messages (--workers-read)")
struct PartitionMessageTests {
    @Test("a partition task and its written part arrive as sent; each direction refuses the other's")
    func roundTrip() throws {
        let (worker, coordinator) = try MessageTests.pair()
        defer { worker.close(); coordinator.close() }
        let task = PartitionTask(partition: 3, attempt: 2,
                                 inputs: [.init(path: "/data/date=2026-12-01/part-0.parquet", bytes: 1234, rows: 1500..<3000, directory: "date=2026-12-01")],
                                 firstBatch: 40, copiesKeptColumns: true, temporaryDirectory: "/out/_temporary/abc",
                                 outputName: "date=2026-12-01/part-00003.attempt-2.parquet")
        let written = PartitionWritten(partition: 3, attempt: 2, path: task.outputPath, rows: 1500, bytes: 999,
                                       readSeconds: 0.5, predictSeconds: 1.5, writeSeconds: 0.25, bytesRead: 0)
        try coordinator.send(CoordinatorMessage.partition(task))
        try worker.send(WorkerMessage.partitionWritten(written))
        guard case .partition(let got) = try worker.receiveFromCoordinator() else { Issue.record("not a partition"); return }
        #expect(got == task && got.rowCount == 1500 && got.inputs[0].rowRange == 1500..<3000)
        #expect(got.outputPath == "/out/_temporary/abc/date=2026-12-01/part-00003.attempt-2.parquet")
        guard case .partitionWritten(let back) = try coordinator.receiveFromWorker() else { Issue.record("not a written part"); return }
        #expect(back == written)
        // A worker never sends a task, a coordinator never a written part.
        try worker.send(MessageType.partition, task)
        #expect(throws: WireError.self) { _ = try coordinator.receiveFromWorker() }
    }

    @Test("decode fields keep their types, parameters and nullability; an unknown kind is refused, not guessed")
    func fields() throws {
        let fields = [Field(name: "t", type: .timestamp(.microseconds, utc: true), nullable: true),
                      Field(name: "d", type: .decimal(precision: 20, scale: 4), nullable: false),
                      Field(name: "b", type: .fixedBinary(70_000), nullable: true),
                      Field(name: "s", type: .string, nullable: false)]
        let data = try JSONEncoder().encode(fields.map(WireField.init))
        let back = try JSONDecoder().decode([WireField].self, from: data)
        #expect(back.map(\.field) == fields)
        var unknown = WireField(fields[0])
        unknown.kind = 250
        #expect(unknown.field == nil)
    }
}
