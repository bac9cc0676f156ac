import Foundation
import TestSupport
import Testing

/// A kept-alive worker that switches models releases the models it replaced.
@Suite("kept workers switching models", .serialized)
struct KeptWorkerMemoryTests {
    /// Two MLflow sklearn models of about 15 MB each in memory (Tests/Fixtures/make_memory_models.py).
    private static let models: Result<(a: URL, b: URL), Error> = Result {
        let dir = try TestEnvironment.makeTemporaryDirectory("memory-models")
        let script = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/make_memory_models.py").path
        try EndToEndFixture.python([script, dir.path])
        return (dir.appendingPathComponent("a"), dir.appendingPathComponent("b"))
    }

    /// A process's resident memory in kB (VmRSS in /proc/PID/status).
    private func residentKilobytes(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    @Test("a kept worker alternating between two models for 30 jobs stays within 10% of its resident memory after the second")
    func alternatingModelsDoNotAccumulate() throws {
        let fixture = try EndToEndFixture.shared.get()
        let (a, b) = try Self.models.get()
        let cache = try TestEnvironment.makeTemporaryDirectory("kept-memory-cache")
        let environment = ["VIRTUAL_ENV": EndToEndFixture.venv, "XDG_CACHE_HOME": cache.path]
        defer { _ = try? TestEnvironment.run(EndToEndFixture.binary, ["stop-workers"], environment: environment) }

        /// Runs job `index` (model a, then b, then a, ...) on the one kept worker; returns the load time it reported.
        func job(_ index: Int) throws -> Double {
            let output = fixture.outputPath("kept-memory-\(index)")
            let result = try TestEnvironment.run(EndToEndFixture.binary, [
                "run", "--keep-workers", "300", "--workers", "1", "--model", (index % 2 == 0 ? a : b).path,
                "--input", fixture.dataset.path, "--output", output, "--columns", "f1,f2,f3", "--preview", "0",
                "--keep-columns", "none", "--quiet", "--report", output + "-report.json"], environment: environment)
            try #require(result.status == 0, "job \(index): \(result.stderr)")
            try? FileManager.default.removeItem(atPath: output)
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "-report.json"))) as? [String: Any]
            let workers = report?["workers"] as? [[String: Any]] ?? []
            return workers.compactMap { $0["loadSeconds"] as? Double }.max() ?? 0
        }
        func workerPID() throws -> Int32 {
            let pools = cache.appendingPathComponent("score-cluster/workers").path
            let state = try #require(try FileManager.default.contentsOfDirectory(atPath: pools).first { $0.hasSuffix(".json") })
            let recorded = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: pools + "/" + state))) as? [String: Any]
            return Int32(try #require((recorded?["pids"] as? [Int])?.first))
        }

        _ = try job(0)
        _ = try job(1)
        let pid = try workerPID()
        let afterSecond = try residentKilobytes(pid)
        for index in 2..<30 {
            // Every job switches models, so the kept worker loads one each time.
            #expect(try job(index) > 0, "job \(index) loaded its model")
        }
        #expect(try workerPID() == pid, "the same worker ran every job")
        let afterLast = try residentKilobytes(pid)
        print("kept worker \(pid): VmRSS \(afterSecond) kB after job 2, \(afterLast) kB after job 30 "
              + "(\(String(format: "%+.1f", Double(afterLast - afterSecond) * 100 / Double(afterSecond)))%)")
        #expect(Double(afterLast) <= Double(afterSecond) * 1.10,
                "resident memory grew from \(afterSecond) kB after job 2 to \(afterLast) kB after job 30")
    }
}
