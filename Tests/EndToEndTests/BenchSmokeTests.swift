import Foundation
import TestSupport
import Testing

/// The benchmark harness in its smoke configuration: a correctness check, no timing assertions.
/// `bench/bench.py --smoke` scores 20,000 rows with score-cluster and the pure-Python baselines
/// (LinearRegression, a PythonModel returning a DataFrame, a seed-format model), also with
/// workers kept by an earlier run (`run --keep-workers`), and exits 1 when any output differs
/// from the 1-process baseline's.
@Suite("bench/bench.py --smoke", .serialized)
struct BenchSmokeTests {
    @Test("score-cluster and the Python baselines write the same outputs; the table and JSON are produced")
    func smoke() throws {
        let workDir = try TestEnvironment.makeTemporaryDirectory("bench-smoke")
        defer { try? FileManager.default.removeItem(at: workDir) }
        let script = TestEnvironment.repoRoot.appendingPathComponent("bench/bench.py").path
        let result = try TestEnvironment.run(TestEnvironment.python,
                                             [script, "--smoke", "--binary", EndToEndFixture.binary,
                                              "--work-dir", workDir.path, "--concurrent-predict-only"])
        #expect(result.status == 0, "bench.py --smoke failed:\n\(result.stderr)")
        #expect(result.stdout.contains("| linear | score-cluster |"), "\(result.stdout)")
        #expect(result.stdout.contains("| frame | score-cluster |"), "\(result.stdout)")
        #expect(result.stdout.contains("| seed | python x2 |"), "\(result.stdout)")
        #expect(result.stdout.contains("| seed | score-cluster, kept workers |"), "\(result.stdout)")
        #expect(result.stdout.contains("### Repeated jobs: score-cluster with kept workers"), "\(result.stdout)")
        #expect(result.stdout.contains("2 predict-only processes at once"), "\(result.stdout)")
        #expect(result.stderr.contains("outputs of score-cluster, score-cluster, kept workers equal python x1's"), "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: workDir.appendingPathComponent("smoke-results.json").path))
        // The bench stops the workers it kept (their token file lies under the work directory).
        let lingering = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard Int(pid) != nil, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(workDir.path)
        }
        #expect(lingering.isEmpty, "kept workers still running: \(lingering)")
    }
}
