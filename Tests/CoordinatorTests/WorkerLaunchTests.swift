import Foundation
import Testing
import TestSupport
@testable import Coordinator
import WorkerLaunch

@Suite("How local workers are launched and recognised")
struct WorkerLaunchTests {
    @Test("a launch renders to the worker command line in one place; a kept one adds keep-alive, idle timeout and its record")
    func arguments() {
        var launch = WorkerLaunch(executable: "/bin/score-cluster", port: 4711, pythonEnvironment: "/venv", capacity: 3,
                                  logLevel: "info", logFormat: "json")
        #expect(launch.arguments == ["worker", "--python-env", "/venv", "--capacity", "3", "--connect-timeout", "0",
                                     "--log-level", "info", "--log-format", "json", "--connect", "127.0.0.1:4711"])
        launch.tokenFile = "/pool.token"
        launch.keepAlive = .init(idleTimeout: 600, recordPath: "/pool.worker-1.json")
        #expect(Array(launch.arguments.suffix(7)) == ["--connect", "127.0.0.1:4711", "--keep-alive", "--idle-timeout", "600.0",
                                                      "--record", "/pool.worker-1.json"])
        #expect(launch.arguments.contains("/pool.token"))
    }

    @Test("a pool's identity leaves out what does not change a worker: the port, the idle timeout, the record")
    func identity() {
        let a = WorkerLaunch(executable: "/bin/sc", port: 1, pythonEnvironment: "/venv", capacity: 3,
                             keepAlive: .init(idleTimeout: 10, recordPath: "/a"))
        let b = WorkerLaunch(executable: "/bin/sc", port: 2, pythonEnvironment: "/venv", capacity: 3,
                             keepAlive: .init(idleTimeout: 99, recordPath: "/b"))
        let c = WorkerLaunch(executable: "/bin/sc", port: 1, pythonEnvironment: "/other", capacity: 3)
        #expect(a.identity == b.identity)
        #expect(a.identity != c.identity)
    }

    @Test("a kept worker is there while its record is held; once released the pool removes its stale record, and nothing else")
    func recordLiveness() throws {
        let directory = try ScratchDirectory()
        let pool = try #require(try WarmWorkerPool.acquire(name: "pool-test", directory: directory.path))
        defer { pool.release() }
        let path = pool.newRecordPath()
        var held: KeptWorkerRecord.Held? = try KeptWorkerRecord.hold(path: path, record: .init(pid: 1234, port: 5678))
        #expect(KeptWorkerRecord.live(at: path) == KeptWorkerRecord(pid: 1234, port: 5678))
        #expect(throws: KeptWorkerRecord.RecordError.self) { try KeptWorkerRecord.hold(path: path, record: .init(pid: 1, port: 1)) }
        // A file named in the state that is not one of the pool's records is never removed.
        let foreign = directory.path + "/thesis.tex"
        try directory.write("thesis.tex", "not a record")
        let state = WarmWorkerPool.State(port: 5678, pids: [1234], records: [path, foreign])
        #expect(pool.liveWorkers(state).map(\.pid) == [1234])
        withExtendedLifetime(held) {}
        held = nil
        #expect(KeptWorkerRecord.live(at: path) == nil)
        #expect(pool.liveWorkers(state).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path), "a dead worker's record is removed")
        #expect(FileManager.default.fileExists(atPath: foreign))
        #expect(KeptWorkerRecord.live(at: directory.path + "/never-written.json") == nil)
    }
}
