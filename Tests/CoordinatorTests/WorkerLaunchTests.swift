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

    @Test("a launch standing for several workers says --processes; its identity is that of one worker")
    func processesOption() {
        var launch = WorkerLaunch(executable: "/bin/sc", port: 1, pythonEnvironment: "/venv", capacity: 3)
        let single = launch.identity
        #expect(!launch.arguments.contains("--processes"))
        launch.processes = 4
        let arguments = launch.arguments
        let at = try! #require(arguments.firstIndex(of: "--processes"))
        #expect(arguments[at + 1] == "4")
        #expect(launch.identity == single)
    }

    @Test("the siblings a --processes worker spawns get its arguments without --processes and what a kept worker owns, with --launched-by")
    func siblingArguments() {
        let arguments = ["worker", "--connect", "127.0.0.1:9", "--processes", "4", "--keep-alive", "--record", "/r.json",
                         "--idle-timeout=30", "--capacity", "2", "--processes=4", "--launched-by", "77"]
        #expect(WorkerLaunch.siblingArguments(arguments, launchedBy: 42)
                == ["worker", "--connect", "127.0.0.1:9", "--capacity", "2", "--launched-by", "42"])
    }

    @Test("a kept worker's record says how many workers it stands for; one written before --processes stands for one")
    func recordProcesses() throws {
        let old = try JSONDecoder().decode(KeptWorkerRecord.self, from: Data(#"{"pid": 5, "port": 6}"#.utf8))
        #expect(old == KeptWorkerRecord(pid: 5, port: 6, processes: 1))
        let record = KeptWorkerRecord(pid: 5, port: 6, processes: 3)
        #expect(try JSONDecoder().decode(KeptWorkerRecord.self, from: JSONEncoder().encode(record)) == record)
    }
}
