#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// A Ctrl-C in a terminal, standard error that cannot be written, and workers lost while a
/// coordinator runs: the job ends as it should and says what happened.
@Suite("score-cluster run, signals and logs", .serialized)
struct SignalsAndLogsTests {
    let fixture: EndToEndFixture

    init() throws { fixture = try EndToEndFixture.shared.get() }

    /// A model whose processes each answer `freeCalls` batches, then wait (up to 60 s) until
    /// the file `gate` exists: the test acts while the job is surely under way, whatever the load.
    private func gatedModel(gate: String, freeCalls: Int = 2) throws -> URL {
        try fixture.makeSeedModel("""
            import os, time
            class M:
                calls = 0
                def predict(self, df, params=None):
                    M.calls += 1
                    if M.calls > \(freeCalls):
                        deadline = time.time() + 60
                        while not os.path.exists(\"\(gate)\") and time.time() < deadline:
                            time.sleep(0.05)
                    return df.iloc[:, 0] * 0 + 2.0
            def _load_pyfunc(path):
                return M()
            """)
    }

    private func rows(in output: String) throws -> String {
        try TestEnvironment.runPython("import pyarrow.parquet as pq, sys; print(pq.read_table(sys.argv[1]).num_rows)", [output])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("Ctrl-C in a terminal (SIGINT to the whole process group) reaches the coordinator alone: a grace period, workers stopped in order, --resume finishes")
    func ctrlCToProcessGroup() throws {
        let gate = try TestEnvironment.makeTemporaryDirectory("gate").appendingPathComponent("open").path
        let model = try gatedModel(gate: gate, freeCalls: 4)
        let output = fixture.outputPath("ctrl-c")
        let arguments = ["run", "--model", model.path, "--input", fixture.dataset.path, "--output", output,
                         "--columns", "f0,f1,f2,f3", "--workers", "2", "--batch-size", "500", "--partition-rows", "1500", "--quiet"]
        // Foundation starts the job as the leader of a process group of its own, as a shell
        // does a foreground job; the terminal's Ctrl-C is SIGINT to that whole group.
        let job = try BackgroundProcess(EndToEndFixture.binary, arguments, environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        #expect(getpgid(job.pid) == job.pid)
        #expect(BackgroundProcess.waitFor(seconds: 60) {
            (try? String(contentsOfFile: output + "/_manifest.jsonl", encoding: .utf8))?.contains("\"partition\"") == true
        })
        kill(-job.pid, SIGINT)
        // The workers, still alive, finish the batches under way.
        #expect(BackgroundProcess.waitFor(seconds: 30) { job.stderr.contains("SIGINT: finishing") })
        #expect(FileManager.default.createFile(atPath: gate, contents: nil), "cannot open the gate \(gate)")
        let stopped = job.wait(seconds: 60)
        #expect(stopped.status == 1)
        #expect(stopped.stderr.contains("SIGINT: finishing the partitions under way"), "\(stopped.stderr)")
        #expect(!stopped.stderr.contains("killed by signal"), "\(stopped.stderr)")
        #expect(!stopped.stderr.contains("crashes the interpreter"))
        #expect(stopped.stderr.contains("--resume to finish the job"))
        let resumed = try TestEnvironment.run(EndToEndFixture.binary, arguments + ["--resume"],
                                              environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
        #expect(try rows(in: output) == "7301")
    }

    @Test("standard error on a full device or a closed pipe does not change the job's outcome")
    func unwritableStandardError() throws {
        for target in ["/dev/full", "closed pipe"] {
            let output = fixture.outputPath("stderr")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: EndToEndFixture.binary)
            process.arguments = ["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path, "--output", output,
                                 "--columns", "f0,f1,f2,f3", "--workers", "2", "--log-level", "debug"]
            process.environment = ProcessInfo.processInfo.environment.merging(["VIRTUAL_ENV": EndToEndFixture.venv]) { $1 }
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            if target == "/dev/full" {
                process.standardError = FileHandle(forWritingAtPath: "/dev/full")
            } else {
                let pipe = Pipe()
                process.standardError = pipe
                try pipe.fileHandleForReading.close()
            }
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(target): status \(process.terminationStatus)")
            #expect(FileManager.default.fileExists(atPath: output + "/_SUCCESS"), "\(target)")
            #expect(!FileManager.default.fileExists(atPath: output + "/_temporary"), "\(target)")
            #expect(try rows(in: output) == "7301")
        }
    }

    @Test("a coordinator logs each lost worker when it is lost, naming its peer and why")
    func coordinatorLogsEachLoss() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("lost-worker")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "lost-worker-secret-0123456789")
        let gate = dir.appendingPathComponent("open").path
        let model = try gatedModel(gate: gate)
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("lost")
        let coordinator = try BackgroundProcess(EndToEndFixture.binary, [
            "coordinator", "--listen", "127.0.0.1:\(port)", "--min-workers", "2", "--token-file", token,
            "--wait-for-workers", "120", "--model", model.path, "--input", fixture.dataset.path, "--output", output,
            "--columns", "f0,f1,f2,f3", "--batch-size", "500", "--preview", "0", "--quiet"])
        let workers = try (0..<2).map { i in
            try BackgroundProcess(EndToEndFixture.binary, [
                "worker", "--connect", "127.0.0.1:\(port)", "--token-file", token,
                "--model-cache", dir.appendingPathComponent("cache-\(i)").path, "--connect-timeout", "60"],
                environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        }
        #expect(BackgroundProcess.waitFor(seconds: 90) { workers.allSatisfy { $0.stderr.contains("received the model") } })
        // The gate keeps the job running (each worker holds batches it cannot finish) until the test opens it.
        usleep(500_000)
        workers[0].signal(SIGKILL)
        // Logged while the job still runs, not only counted at its end.
        #expect(BackgroundProcess.waitFor(seconds: 30) { coordinator.stderr.contains("lost worker pid \(workers[0].pid)") }, "\(coordinator.stderr)")
        let line = coordinator.stderr.split(separator: "\n").first { $0.contains("lost worker pid \(workers[0].pid)") } ?? ""
        #expect(line.contains("127.0.0.1:"), "the peer is named: \(line)")
        #expect(line.contains("disconnected"))
        #expect(FileManager.default.createFile(atPath: gate, contents: nil), "cannot open the gate \(gate)")
        let result = coordinator.wait(seconds: 120)
        workers[1].wait(seconds: 30)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try rows(in: output) == "7301")
    }
}
