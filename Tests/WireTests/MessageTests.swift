import Columnar
import Foundation
import Testing
@testable import MLflowModel
@testable import Wire

/// The typed messages: each direction decodes only what its peer sends, in one place.
@Suite("Typed coordinator and worker messages")
struct MessageTests {
    static func pair() throws -> (worker: Connection, coordinator: Connection) {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let worker = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let coordinator = try #require(try listener.accept(timeoutMilliseconds: 5000))
        return (worker, coordinator)
    }

    @Test("every worker message arrives as the case it was sent as, with its payload")
    func workerMessagesRoundTrip() throws {
        let (worker, coordinator) = try Self.pair()
        defer { worker.close(); coordinator.close() }
        let hello = WorkerHello(pid: 7, host: "w1", capacity: 3, pythonVersion: "3.11.2", pythonEnvironment: "/venv")
        let failure = WorkerFailure(kind: .predict, taskID: 4, message: "boom", traceback: "Traceback")
        let timings = BatchTimings(taskID: 4, decodeSeconds: 0.1, predictSeconds: 0.2, encodeSeconds: 0.3)
        let column = Column.fixed(.float64, [1.5, 2.5, 3.5])
        try worker.send(.hello(hello))
        try worker.send(WorkerMessage.modelRequest)
        try worker.send(.ready(WorkerReady(loadSeconds: 1.25)))
        try worker.send(.result(ColumnBatch(taskID: 4, rowCount: 3, columns: [column])))
        try worker.send(.batchTimings(timings))
        try worker.send(.failure(failure))
        try worker.send(WorkerMessage.heartbeat)

        guard case .hello(let gotHello) = try coordinator.receiveFromWorker() else { Issue.record("not a hello"); return }
        #expect(gotHello == hello)
        guard case .modelRequest = try coordinator.receiveFromWorker() else { Issue.record("not a model request"); return }
        guard case .ready(let ready) = try coordinator.receiveFromWorker() else { Issue.record("not ready"); return }
        #expect(ready.loadSeconds == 1.25)
        guard case .result(let result) = try coordinator.receiveFromWorker() else { Issue.record("not a result"); return }
        #expect(result.taskID == 4 && result.rowCount == 3)
        #expect(result.columns[0].array(of: Double.self) == [1.5, 2.5, 3.5])
        guard case .batchTimings(let gotTimings) = try coordinator.receiveFromWorker() else { Issue.record("not timings"); return }
        #expect(gotTimings == timings)
        guard case .failure(let gotFailure) = try coordinator.receiveFromWorker() else { Issue.record("not a failure"); return }
        #expect(gotFailure == failure)
        guard case .heartbeat = try coordinator.receiveFromWorker() else { Issue.record("not a heartbeat"); return }
    }

    @Test("a job spec travels with its typed result type and JSON values")
    func jobSpecRoundTrip() throws {
        let (worker, coordinator) = try Self.pair()
        defer { worker.close(); coordinator.close() }
        var spec = JobSpec(jobID: "j1", modelPath: "/m", columnNames: ["0", "1"], integerLabels: true,
                           resultType: try ResultType(parsing: "struct<a: double, b: array<string>>"))
        spec.modelConfig = ["threshold": .double(0.5), "labels": .array([.string("x")])]
        spec.params = ["k": .int(3)]
        try coordinator.send(CoordinatorMessage.job(spec))
        try coordinator.send(CoordinatorMessage.shutdown)
        guard case .job(let got) = try worker.receiveFromCoordinator() else { Issue.record("not a job"); return }
        #expect(got == spec)
        #expect(got.resultType == (try ResultType(parsing: "struct<a: double, b: array<string>>")))
        guard case .shutdown = try worker.receiveFromCoordinator() else { Issue.record("not a shutdown"); return }
    }

    @Test("a frame the peer never sends is refused, naming it")
    func wrongDirection() throws {
        let (worker, coordinator) = try Self.pair()
        defer { worker.close(); coordinator.close() }
        // A worker that sends a coordinator's message, and a coordinator that sends a worker's.
        try worker.send(MessageType.shutdown)
        try coordinator.send(MessageType.ready, WorkerReady(loadSeconds: 0))
        #expect(throws: WireError.unexpected("shutdown from a worker")) { try coordinator.receiveFromWorker() }
        #expect(throws: WireError.unexpected("ready from the coordinator")) { try worker.receiveFromCoordinator() }
    }

    @Test("a job spec whose result type does not parse is refused as malformed, naming the type")
    func badResultType() throws {
        let json = #"{"jobID":"j","modelPath":"/m","columnNames":[],"integerLabels":false,"enforcedTypes":[],"resultType":"decimal(3)","strictTypes":false}"#
        #expect(performing: { try JSONDecoder().decode(JobSpec.self, from: Data(json.utf8)) }, throws: { error in
            "\(error)".contains("decimal(3)")
        })
    }
}
