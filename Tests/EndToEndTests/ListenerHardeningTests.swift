import Foundation
import TestSupport
import Testing

/// `score-cluster coordinator` under a low descriptor limit (`prlimit`, util-linux): idle
/// connections use up its descriptors, `accept` fails with EMFILE, and once they are gone a real
/// worker still joins and the job completes (the acceptor used to die on the first failure).
@Suite("Coordinator out of descriptors", .serialized)
struct ListenerHardeningTests {
    @Test("accept failing with too many open files is logged and retried; a worker joins afterwards and the job completes")
    func outOfDescriptors() throws {
        let prlimit = "/usr/bin/prlimit"
        try #require(FileManager.default.isExecutableFile(atPath: prlimit), "needs prlimit (util-linux)")
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("emfile")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "out-of-descriptors-secret-0123")
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("emfile")
        let venv = EndToEndFixture.venv
        // 48 descriptors: enough for the job, not for 60 idle connections besides.
        let coordinator = try BackgroundProcess(prlimit, ["--nofile=48:48", EndToEndFixture.binary,
            "coordinator", "--listen", "127.0.0.1:\(port)", "--token-file", token, "--wait-for-workers", "60",
            "--model", fixture.seedModel.path, "--input", fixture.dataset.path, "--output", output,
            "--columns", "f0,f1,f2,f3", "--preview", "0", "--report", output + "-report.json"],
            environment: ["VIRTUAL_ENV": venv])
        defer { coordinator.signal(SIGKILL); coordinator.wait(seconds: 5) }
        #expect(BackgroundProcess.waitFor(seconds: 30) { coordinator.stderr.contains("listening for workers") }, "\(coordinator.stderr)")

        // 60 peers connect and say nothing (the kernel completes their connections even when the
        // coordinator cannot accept them); they leave once it has said it is out of descriptors.
        let held = try TestEnvironment.runPython("""
            import socket, sys, time
            port = int(sys.argv[1])
            peers = [socket.create_connection(("127.0.0.1", port)) for _ in range(60)]
            time.sleep(3)
            for s in peers:
                s.close()
            print("held", len(peers))
            """, [String(port)])
        #expect(held.contains("held 60"))
        #expect(BackgroundProcess.waitFor(seconds: 10) { coordinator.stderr.contains("Too many open files") }, "\(coordinator.stderr)")

        let worker = try BackgroundProcess(EndToEndFixture.binary,
            ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", token,
             "--model-cache", dir.appendingPathComponent("cache").path, "--python-env", venv])
        defer { worker.signal(SIGKILL); worker.wait(seconds: 5) }
        let result = coordinator.wait(seconds: 120)
        let workerResult = worker.wait(seconds: 30)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(workerResult.status == 0, "\(workerResult.stderr)")
        // Rate-limited: a few warnings at most, not one per failed accept.
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("Too many open files") }
        #expect(!warnings.isEmpty && warnings.count <= 3, "\(result.stderr)")
        #expect(result.stderr.contains("accepting connections again"), "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "-report.json"))) as? [String: Any]
        #expect(report?["rows"] as? Int == 7301)
        #expect((report?["workers"] as? [Any])?.count == 1)
    }
}
