import Foundation
import TestSupport
import Testing

@Suite("run --keep-workers", .serialized)
struct KeptWorkersTests {
    /// The per-worker entries of a `--report` file.
    private func workers(_ report: String) throws -> [[String: Any]] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any]
        return json?["workers"] as? [[String: Any]] ?? []
    }

    /// prediction / f1 over every output row, as "min max rows" (the model multiplies f1 by a factor).
    private func factors(_ output: String) throws -> String {
        let result = try TestEnvironment.runPython("""
            import sys, pyarrow.dataset as ds, pyarrow.compute as pc
            t = ds.dataset(sys.argv[1], format="parquet").to_table()
            r = pc.divide(t["prediction"], pc.cast(t["f1"], "double"))
            print(round(pc.min(r).as_py(), 6), round(pc.max(r).as_py(), 6), t.num_rows)
            """, [output])
        return result.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An environment whose kept workers live under a cache directory of their own, and that directory.
    private func isolatedEnvironment(_ label: String) throws -> ([String: String], URL) {
        let cache = try TestEnvironment.makeTemporaryDirectory(label)
        return (["VIRTUAL_ENV": TestEnvironment.repoRoot.appendingPathComponent(".venv").path, "XDG_CACHE_HOME": cache.path], cache)
    }

    @Test("the second run uses the kept workers without loading the model; a model changed on disk is loaded again; stop-workers stops them")
    func keptBetweenRuns() throws {
        let fixture = try EndToEndFixture.shared.get()
        let (environment, cache) = try isolatedEnvironment("kept-workers-cache")
        // Loading takes 1 s, so that a load shows in the report.
        let source = """
            import time
            class M:
                def predict(self, df):
                    return df['0'] * FACTOR
            def load_pyfunc(path):
                time.sleep(1)
                return M()
            """
        let model = try fixture.makeSeedModel(source.replacingOccurrences(of: "FACTOR", with: "2"))
        func run(_ label: String) throws -> (output: String, workers: [[String: Any]]) {
            let output = fixture.outputPath("kept-\(label)")
            let result = try TestEnvironment.run(EndToEndFixture.binary, [
                "run", "--keep-workers", "120", "--workers", "2", "--model", model.path, "--input", fixture.dataset.path,
                "--output", output, "--columns", "f1", "--preview", "0", "--report", output + "-report.json"],
                environment: environment)
            #expect(result.status == 0, "\(result.stderr)")
            return (output, try workers(output + "-report.json"))
        }
        let pools = cache.appendingPathComponent("score-cluster/workers").path
        defer { _ = try? TestEnvironment.run(EndToEndFixture.binary, ["stop-workers"], environment: environment) }

        let first = try run("first")
        // A job this small may be done before both workers are ready: look at those that scored.
        func scoring(_ workers: [[String: Any]]) -> [[String: Any]] { workers.filter { ($0["rows"] as? Int ?? 0) > 0 } }
        #expect(!scoring(first.workers).isEmpty && scoring(first.workers).allSatisfy { ($0["loadSeconds"] as? Double ?? 0) >= 1 }, "\(first.workers)")
        #expect(try factors(first.output) == "2.0 2.0 7301")
        let state = try FileManager.default.contentsOfDirectory(atPath: pools).filter { $0.hasSuffix(".json") }
        #expect(state.count == 1)
        func keptPIDs() throws -> [Int32] {
            let recorded = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: pools + "/" + state[0]))) as? [String: Any]
            return (recorded?["pids"] as? [Int] ?? []).map(Int32.init)
        }
        // One process that loaded the model and forks the job's second worker (--fork-workers).
        let pids = try keptPIDs()
        #expect(pids.count == 1 && pids.allSatisfy { kill($0, 0) == 0 }, "the loading worker outlives the run: \(pids)")

        let second = try run("second")
        #expect(!scoring(second.workers).isEmpty && scoring(second.workers).allSatisfy { $0["loadSeconds"] as? Double == 0 }, "\(second.workers)")
        #expect(try keptPIDs() == pids, "the same process is kept")
        #expect(try factors(second.output) == "2.0 2.0 7301")

        // The same path with other code: loaded again, never the stale module.
        let module = try #require(FileManager.default.contentsOfDirectory(atPath: model.appendingPathComponent("code").path).first { $0.hasSuffix(".py") })
        try source.replacingOccurrences(of: "FACTOR", with: "3.0").write(
            to: model.appendingPathComponent("code/\(module)"), atomically: true, encoding: .utf8)
        let third = try run("changed")
        #expect(!scoring(third.workers).isEmpty && scoring(third.workers).allSatisfy { ($0["loadSeconds"] as? Double ?? 0) >= 1 }, "\(third.workers)")
        #expect(try factors(third.output) == "3.0 3.0 7301")

        let stop = try TestEnvironment.run(EndToEndFixture.binary, ["stop-workers"], environment: environment)
        #expect(stop.stdout.contains("stopped 2 worker(s)"), "\(stop.stdout)")
        #expect(BackgroundProcess.waitFor(seconds: 10) {
            pids.allSatisfy { !FileManager.default.fileExists(atPath: "/proc/\($0)/cmdline") || ((try? Data(contentsOf: URL(fileURLWithPath: "/proc/\($0)/cmdline")))?.isEmpty ?? true) }
        }, "stop-workers ended the kept workers")
    }

    @Test("a kept worker that ends before joining the next job is replaced, and the job completes")
    func replacedWhenGone() throws {
        let fixture = try EndToEndFixture.shared.get()
        let (environment, cache) = try isolatedEnvironment("kept-workers-gone")
        defer { _ = try? TestEnvironment.run(EndToEndFixture.binary, ["stop-workers"], environment: environment) }
        func arguments(_ label: String) -> [String] {
            ["run", "--keep-workers", "120", "--workers", "1", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
             "--output", fixture.outputPath("kept-gone-\(label)"), "--columns", "f0,f1,f2,f3", "--preview", "0"]
        }
        let first = try TestEnvironment.run(EndToEndFixture.binary, arguments("first"), environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        let pools = cache.appendingPathComponent("score-cluster/workers").path
        let state = try FileManager.default.contentsOfDirectory(atPath: pools).first { $0.hasSuffix(".json") } ?? ""
        let recorded = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: pools + "/" + state))) as? [String: Any]
        let pid = try #require((recorded?["pids"] as? [Int])?.first).description
        // Stopped, the kept worker cannot join; killed once the job counts on it, it must be replaced.
        kill(Int32(pid)!, SIGSTOP)
        let second = try BackgroundProcess(EndToEndFixture.binary, arguments("second"), environment: environment)
        #expect(BackgroundProcess.waitFor(seconds: 30) { second.stderr.contains("using 1 worker(s) kept from an earlier job") }, "\(second.stderr)")
        usleep(500_000)
        kill(Int32(pid)!, SIGKILL)
        let ended = second.wait(seconds: 120)
        #expect(ended.status == 0, "\(ended.stderr)")
        #expect(ended.stderr.contains("kept worker pid \(pid) ended before joining; starting another"), "\(ended.stderr)")
    }
}
