#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// Jobs that are interrupted (SIGINT, `kill -9` of the coordinator or of a worker) and models
/// that fail on some rows: no row lost or duplicated, output identical to an uninterrupted run.
@Suite("Resume, lost workers and quarantined partitions", .serialized)
struct ResumeAndRecoveryTests {
    let fixture: EndToEndFixture
    init() throws { fixture = try EndToEndFixture.shared.get() }

    /// A seed model: prediction = 2*f1 - f2 + id/1000, `sleep` seconds per batch.
    func model(sleep: Double, raiseOn: [Int] = []) throws -> URL {
        try fixture.makeSeedModel("""
            import time
            class M:
                def predict(self, df):
                    time.sleep(\(sleep))
                    bad = set(\(raiseOn)) & set(df['0'].tolist())
                    if bad:
                        raise ValueError(f"cannot score id {sorted(bad)}")
                    return 2 * df['1'] - df['2'] + df['0'] / 1000
            def load_pyfunc(path):
                return M()
            """)
    }

    /// Small partitions and batches, so that a job has many commits to interrupt.
    let layout = ["--columns", "id,f1,f2", "--partition-rows", "500", "--batch-size", "125", "--preview", "0"]

    func start(_ model: URL, input: String? = nil, output: String, workers: Int = 2, _ extra: [String] = []) throws -> BackgroundProcess {
        try BackgroundProcess(EndToEndFixture.binary,
                              ["run", "--model", model.path, "--input", input ?? fixture.dataset.path, "--output", output,
                               "--workers", String(workers)] + layout + extra,
                              environment: ["VIRTUAL_ENV": TestEnvironment.repoRoot.appendingPathComponent(".venv").path])
    }

    func committedPartitions(_ output: String) -> Int {
        guard let text = try? String(contentsOfFile: output + "/_manifest.jsonl", encoding: .utf8) else { return 0 }
        return text.split(separator: "\n").filter { $0.contains("\"kind\":\"partition\"") }.count
    }

    /// Both outputs hold the same rows, in the same order, with the same values; ids are the input's, once each.
    func expectSameOutput(_ output: String, as reference: String) throws {
        let verdict = try TestEnvironment.runPython("""
            import os, sys, pyarrow as pa, pyarrow.parquet as pq
            def read(d):
                files = sorted(f for f in os.listdir(d) if f.endswith(".parquet"))
                return pa.concat_tables([pq.read_table(os.path.join(d, f)) for f in files])
            a, b, src = read(sys.argv[1]), read(sys.argv[2]), read(sys.argv[3])
            assert a.equals(b), "outputs differ"
            assert a.column("id").to_pylist() == src.column("id").to_pylist(), "ids lost, duplicated or reordered"
            print("same", a.num_rows)
            """, [output, reference, fixture.dataset.path])
        #expect(verdict.hasPrefix("same 7301"))
    }

    func referenceOutput() throws -> String {
        let output = fixture.outputPath("reference")
        let run = try start(try model(sleep: 0), output: output).wait()
        #expect(run.status == 0, "\(run.stderr)")
        return output
    }

    @Test("SIGINT lets batches in flight commit; kill -9 of the coordinator; --resume finishes with identical output; a changed input is refused")
    func interruptAndResume() throws {
        let reference = try referenceOutput()
        let slow = try model(sleep: 0.4)
        let output = fixture.outputPath("resume")

        // SIGINT after a few commits: exit 1, committed partitions and the manifest kept, no _SUCCESS.
        let first = try start(slow, output: output)
        #expect(BackgroundProcess.waitFor(seconds: 120) { committedPartitions(output) >= 2 })
        first.signal(SIGINT)
        let interrupted = first.wait()
        #expect(interrupted.status == 1)
        #expect(interrupted.stderr.contains("stopped by SIGINT") && interrupted.stderr.contains("--resume"), "\(interrupted.stderr)")
        let afterInterrupt = committedPartitions(output)
        #expect(afterInterrupt >= 2)
        #expect(!FileManager.default.fileExists(atPath: output + "/_SUCCESS"))

        // Without --resume the directory is not silently replaced.
        let refused = try start(slow, output: output).wait()
        #expect(refused.status == 1 && refused.stderr.contains("pass --resume"), "\(refused.stderr)")

        // Resume, then kill -9 the coordinator mid-way: whatever it committed stays recorded.
        let second = try start(slow, output: output, ["--resume"])
        #expect(BackgroundProcess.waitFor(seconds: 120) { committedPartitions(output) >= afterInterrupt + 1 }, "\(second.stderr)")
        second.signal(SIGKILL)
        second.wait()
        #expect(committedPartitions(output) < 16, "the job ended before it could be killed")
        #expect(!FileManager.default.fileExists(atPath: output + "/_SUCCESS"))

        // A changed input is refused, naming the file; the output is left as it was.
        let changed = try TestEnvironment.makeTemporaryDirectory("changed-input")
        for name in ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"] {
            try FileManager.default.copyItem(at: fixture.dataset.appendingPathComponent(name), to: changed.appendingPathComponent(name))
        }
        try TestEnvironment.runPython("import pyarrow.parquet as pq, sys; t = pq.read_table(sys.argv[1]); pq.write_table(t.slice(0, 2000), sys.argv[1])",
                                      [changed.appendingPathComponent("part-00001.parquet").path])
        let before = committedPartitions(output)
        let mismatch = try start(slow, input: changed.path, output: output, ["--resume"]).wait()
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr.contains("not the same job") && mismatch.stderr.contains("part-00001.parquet changed"), "\(mismatch.stderr)")
        #expect(committedPartitions(output) == before)

        // The same job resumes to the end: identical to the uninterrupted run.
        let last = try start(try model(sleep: 0.3), output: output, ["--resume"]).wait()
        #expect(last.status == 1 && last.stderr.contains("the model changed"), "a different model must be refused: \(last.stderr)")
        let finished = try start(slow, output: output, ["--resume"]).wait()
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(finished.stdout.contains("resumed: "))
        #expect(FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
        try expectSameOutput(output, as: reference)
    }

    @Test("kill -9 of a worker mid-way: the job completes with identical output and the report shows the retry")
    func workerKilled() throws {
        let reference = try referenceOutput()
        let output = fixture.outputPath("worker-killed")
        let reportPath = output + "-report.json"
        let job = try start(try model(sleep: 0.25), output: output, ["--report", reportPath])
        #expect(BackgroundProcess.waitFor(seconds: 120) { committedPartitions(output) >= 2 })
        // One worker process that loaded the model and the one it forked; the one that loaded is killed
        // (the other goes on: it is a worker of its own).
        let loader = BackgroundProcess.children(of: job.pid)
        let workers = BackgroundProcess.descendants(of: job.pid)
        #expect(loader.count == 1 && workers.count == 2, "\(loader) \(workers)")
        if let victim = loader.first { kill(victim, SIGKILL) }
        let result = job.wait()
        #expect(result.status == 0, "\(result.stderr)")
        try expectSameOutput(output, as: reference)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportPath))) as? [String: Any]
        #expect(report?["status"] as? String == "succeeded")
        #expect(report?["workersLost"] as? Int == 1)
        #expect((report?["retries"] as? Int ?? 0) >= 1)
        #expect(report?["rows"] as? Int == 7301)
        let perWorker = report?["workers"] as? [[String: Any]] ?? []
        #expect(perWorker.count == 2 && perWorker.contains { $0["lost"] != nil })
        #expect(perWorker.reduce(0) { $0 + ($1["rows"] as? Int ?? 0) } == 7301)
        #expect(perWorker.allSatisfy { ($0["predictSeconds"] as? Double ?? 0) > 0 })
    }

    @Test("a model that raises on some rows: the job fails naming the partition; --max-failed-partitions sets them aside under _failed/")
    func quarantine() throws {
        let failing = try model(sleep: 0, raiseOn: [777, 6000])
        let output = fixture.outputPath("raises")
        let failed = try start(failing, output: output).wait()
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("cannot score id") && failed.stderr.contains("Traceback"), "\(failed.stderr)")
        #expect(failed.stderr.contains(#/partition \d+ \(\S+part-0000[01]\.parquet, rows \d+\.\.<\d+ of the file\)/#))
        #expect(!FileManager.default.fileExists(atPath: output))

        // One partition allowed, two fail: the job fails.
        let tooMany = try start(failing, output: fixture.outputPath("raises"), ["--max-failed-partitions", "1"]).wait()
        #expect(tooMany.status == 1 && tooMany.stderr.contains("--max-failed-partitions 1"), "\(tooMany.stderr)")

        let allowed = fixture.outputPath("quarantine")
        let partial = try start(failing, output: allowed, ["--max-failed-partitions", "2"]).wait()
        #expect(partial.status == 3, "\(partial.stderr)")
        #expect(partial.stderr.contains("2 partition(s) failed") && partial.stderr.contains("_failed/"))
        #expect(!FileManager.default.fileExists(atPath: allowed + "/_SUCCESS"))
        let summary = try TestEnvironment.runPython("""
            import os, sys, json, pyarrow as pa, pyarrow.parquet as pq
            d = sys.argv[1]
            files = sorted(f for f in os.listdir(d) if f.endswith(".parquet"))
            ids = pa.concat_tables([pq.read_table(os.path.join(d, f)) for f in files]).column("id").to_pylist()
            failed = [json.load(open(os.path.join(d, "_failed", f))) for f in sorted(os.listdir(os.path.join(d, "_failed")))]
            missing = sorted(set(range(7301)) - set(ids))
            ranges = [(f["inputs"][0]["file"].split("/")[-1], f["inputs"][0]["rows"], [b["rows"] for b in f["failedBatches"]], "cannot score id" in f["failedBatches"][0]["error"], "Traceback" in (f["failedBatches"][0]["traceback"] or "")) for f in failed]
            assert all(len(f["inputs"]) == 1 and b["input"] == f["inputs"][0]["file"] for f in failed for b in f["failedBatches"]), failed
            assert len(ids) == len(set(ids)), "duplicate rows"
            print(len(ids), missing[0], missing[-1], len(missing), ranges)
            """, [allowed])
        // id 777 is row 777 of file 0 (partition rows 500..<1000); id 6000 is row 1000 of file 1 (rows 1000..<1500).
        #expect(summary.contains("6301 500 6499 1000"), "\(summary)")
        #expect(summary.contains("('part-00000.parquet', [500, 1000], [[750, 875]], True, True)"), "\(summary)")
        #expect(summary.contains("('part-00001.parquet', [1000, 1500], [[1000, 1125]], True, True)"), "\(summary)")
    }
}
