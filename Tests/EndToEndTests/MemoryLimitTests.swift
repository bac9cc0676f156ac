#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// `--worker-memory` and `worker --memory-limit`: a worker whose resident memory goes over the
/// limit stops (exit status 12) and the batch it was scoring is reported as "the model used
/// more than N MB", naming the partition; a worker killed by SIGKILL is reported as probably
/// out of memory, not as a crash of the model.
@Suite("Worker memory limit", .serialized)
struct MemoryLimitTests {
    let fixture: EndToEndFixture
    init() throws { fixture = try EndToEndFixture.shared.get() }

    /// An MLflow PythonModel returning its first column that keeps `megabytes` MB per predict
    /// call, or only per batch holding `value` (`Tests/Fixtures/make_leaky_model.py`).
    func hungryModel(megabytes: Int, value: Int? = nil) throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("hungry-model").appendingPathComponent("model")
        let script = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/make_leaky_model.py").path
        try EndToEndFixture.python([script, dir.path, String(megabytes)] + (value.map { [String($0)] } ?? []))
        return dir
    }

    func run(_ arguments: [String]) throws -> BackgroundProcess {
        try BackgroundProcess(EndToEndFixture.binary, arguments, environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
    }

    /// The highest peak resident set (VmHWM, MB) seen among the processes below `parent` (its
    /// workers, and those they fork) while it runs.
    final class PeakWatch: @unchecked Sendable {
        private let lock = NSLock()
        private var peaks: [Int32: Int] = [:]
        private var running = true

        init(childrenOf parent: Int32) {
            Thread.detachNewThread { [self] in
                var workers: [Int32] = []
                var round = 0
                while lock.withLock({ running }) {
                    // Listing /proc is costly: new workers are looked for every 200 ms, known ones read every 10 ms.
                    if round % 20 == 0 { workers = BackgroundProcess.descendants(of: parent) }
                    round += 1
                    for pid in workers {
                        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                              let kb = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ Int($0) }) else { continue }
                        lock.withLock { peaks[pid] = max(peaks[pid] ?? 0, kb / 1024) }
                    }
                    usleep(10_000)
                }
            }
        }

        /// Stops watching; the peak of each worker seen, in MB.
        func stop() -> [Int32: Int] {
            lock.withLock {
                running = false
                return peaks
            }
        }
    }

    /// Every "resident N MB" the workers reported, in MB.
    func reportedResident(_ stderr: String) -> [Int] {
        stderr.matches(of: #/resident (\d+) MB/#).compactMap { Int($0.output.1) }
    }

    @Test("a model leaking 50 MB per batch under --worker-memory 300: the job fails naming the partition, and no worker grows far beyond the limit")
    func leakingModelFails() throws {
        let model = try hungryModel(megabytes: 50)
        let output = fixture.outputPath("leak")
        let job = try run(["run", "--model", model.path, "--input", fixture.dataset.path, "--output", output,
                           "--workers", "2", "--columns", "f1", "--batch-size", "100", "--worker-memory", "300", "--preview", "0"])
        let watch = PeakWatch(childrenOf: job.pid)
        let result = job.wait(seconds: 300)
        let peaks = watch.stop()
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains(#/partition \d+ \(\S+/part-0000\d\.parquet, rows \d+\.\.<\d+ of the file\): the model used more than 300 MB of memory while scoring this batch/#),
                "\(result.stderr)")
        #expect(result.stderr.contains("--worker-memory 300") && result.stderr.contains("--retry-model-errors"))
        #expect(result.stderr.contains("stopped itself over its memory limit (exit status 12"), "\(result.stderr)")
        #expect(!result.stderr.contains("crashes the interpreter"))
        #expect(!FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
        // The worker stops on the batch that crosses the limit: one batch's 50 MB beyond it at most (and some slack).
        // Reported in whole MB, rounded down: just over 300 MB reads "300".
        let resident = reportedResident(result.stderr)
        #expect(!resident.isEmpty && resident.allSatisfy { $0 >= 300 && $0 < 400 }, "\(resident)")
        #expect(peaks.values.allSatisfy { $0 < 400 }, "peak resident sets seen: \(peaks)")
    }

    @Test("a batch that needs too much memory is set aside with --max-failed-partitions; the lone worker is replaced and the job finishes")
    func hungryBatchQuarantined() throws {
        let model = try hungryModel(megabytes: 400, value: 777)
        let output = fixture.outputPath("hungry")
        let reportPath = output + "-report.json"
        let result = try run(["run", "--model", model.path, "--input", fixture.dataset.path, "--output", output,
                              "--workers", "1", "--columns", "id", "--partition-rows", "500", "--batch-size", "125",
                              "--worker-memory", "450", "--max-failed-partitions", "1", "--preview", "0",
                              "--report", reportPath]).wait(seconds: 300)
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("starting a worker in place of"), "\(result.stderr)")
        let summary = try TestEnvironment.runPython("""
            import os, sys, json, pyarrow as pa, pyarrow.parquet as pq
            d = sys.argv[1]
            files = sorted(f for f in os.listdir(d) if f.endswith(".parquet"))
            ids = pa.concat_tables([pq.read_table(os.path.join(d, f)) for f in files]).column("id").to_pylist()
            failed = [json.load(open(os.path.join(d, "_failed", f))) for f in sorted(os.listdir(os.path.join(d, "_failed")))]
            assert len(ids) == len(set(ids)), "duplicate rows"
            print(len(ids), [(f["inputs"][0]["file"].split("/")[-1], f["inputs"][0]["rows"], [b["rows"] for b in f["failedBatches"]],
                              "the model used more than 450 MB" in f["failedBatches"][0]["error"]) for f in failed])
            """, [output])
        // id 777 is in rows 750..<875 of file 0, in the partition of rows 500..<1000.
        #expect(summary.trimmingCharacters(in: .whitespacesAndNewlines) == "6801 [('part-00000.parquet', [500, 1000], [[750, 875]], True)]",
                "\(summary)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportPath))) as? [String: Any]
        #expect(report?["status"] as? String == "partial")
        #expect(report?["workersLost"] as? Int == 1)
        #expect((report?["workers"] as? [Any])?.count == 2)
    }

    @Test("a worker killed by SIGKILL, as by the kernel's out-of-memory killer, is reported as probably out of memory, not as a crash of the model")
    func sigkillIsOutOfMemory() throws {
        let model = try fixture.makeSeedModel("""
            import os, signal
            class M:
                def predict(self, df):
                    os.kill(os.getpid(), signal.SIGKILL)
            def load_pyfunc(path):
                return M()
            """)
        let output = fixture.outputPath("sigkill")
        let result = try run(["run", "--model", model.path, "--input", fixture.dataset.path, "--output", output,
                              "--workers", "2", "--columns", "f1", "--preview", "0"]).wait(seconds: 120)
        #expect(result.status == 1)
        #expect(result.stderr.contains("probably out of memory (killed by SIGKILL"), "\(result.stderr)")
        #expect(result.stderr.contains("out-of-memory killer") && result.stderr.contains("--worker-memory"))
        #expect(!result.stderr.contains("crashes the interpreter"), "\(result.stderr)")
    }

    @Test("the coordinator's --worker-memory applies to a worker started by hand with a larger --memory-limit")
    func remoteWorkerTakesTheJobsLimit() throws {
        let model = try hungryModel(megabytes: 50)
        let dir = try TestEnvironment.makeTemporaryDirectory("remote-memory")
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("remote-leak")
        let coordinator = try run(["coordinator", "--listen", "127.0.0.1:\(port)", "--wait-for-workers", "60",
                                   "--model", model.path, "--input", fixture.dataset.path, "--output", output,
                                   "--columns", "f1", "--batch-size", "100", "--worker-memory", "300", "--preview", "0", "--quiet"])
        defer { coordinator.signal(SIGKILL); coordinator.wait(seconds: 5) }
        let worker = try TestEnvironment.run(EndToEndFixture.binary,
            ["worker", "--connect", "127.0.0.1:\(port)", "--memory-limit", "5000", "--connect-timeout", "60",
             "--model-cache", dir.appendingPathComponent("cache").path, "--python-env", EndToEndFixture.venv])
        let result = coordinator.wait(seconds: 60)
        #expect(worker.status == 12, "\(worker.stderr)")
        #expect(worker.stderr.contains("the model used more than 300 MB") && worker.stderr.contains("--worker-memory 300"), "\(worker.stderr)")
        #expect(result.status == 1)
        #expect(result.stderr.contains(#/partition \d+ \(\S+/part-00000\.parquet, rows \d+\.\.<\d+ of the file\): the model used more than 300 MB/#),
                "\(result.stderr)")
    }

    @Test("a kept-alive worker takes each job's limit and reuses its model when only --worker-memory changes")
    func keptWorkerReusesModel() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("memory-keep-alive")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "memory-keep-alive-secret-0123456789")
        let port = EndToEndFixture.randomPort()
        let worker = try BackgroundProcess(EndToEndFixture.binary,
            ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", token, "--keep-alive", "--idle-timeout", "4",
             "--model-cache", dir.appendingPathComponent("cache").path, "--python-env", EndToEndFixture.venv, "--log-level", "debug"])
        defer { worker.signal(SIGKILL); worker.wait(seconds: 5) }
        for limit in ["3000", "2500"] {
            let output = fixture.outputPath("memory-keep-alive")
            let run = try EndToEndFixture.scoreCluster([
                "coordinator", "--listen", "127.0.0.1:\(port)", "--token-file", token, "--wait-for-workers", "60",
                "--model", fixture.seedModel.path, "--input", fixture.dataset.path, "--output", output,
                "--columns", "f0,f1,f2,f3", "--worker-memory", limit, "--preview", "0", "--quiet"])
            #expect(run.status == 0, "\(run.stderr)")
        }
        let ended = worker.wait(seconds: 30)
        #expect(ended.stderr.contains(#/memory limit for job \S+: 3000 MB/#) && ended.stderr.contains(#/memory limit for job \S+: 2500 MB/#),
                "\(ended.stderr)")
        #expect(ended.stderr.contains("reusing the loaded model"), "\(ended.stderr)")
    }

    @Test("run's default limit is a share of 80% of the machine's memory; none switches it off; bad values are refused")
    func defaultsAndOptions() throws {
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let totalKB = try #require(meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?
            .split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { Int($0) })
        let share = Int(Double(totalKB * 1024) * 0.8 / 2) >> 20
        func limitLine(_ extra: [String]) throws -> (TestEnvironment.ProcessResult, Int?) {
            let run = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                                                        "--output", fixture.outputPath("memory-default"), "--workers", "2",
                                                        "--columns", "f0,f1,f2,f3", "--preview", "0", "--quiet", "--log-level", "debug"] + extra)
            let limit = run.stderr.firstMatch(of: #/memory limit for job \S+: (\d+) MB \(--worker-memory\)/#).flatMap { Int($0.output.1) }
            return (run, limit)
        }
        let (byDefault, limit) = try limitLine([])
        #expect(byDefault.status == 0, "\(byDefault.stderr)")
        // A control group with less memory than the machine lowers it.
        let applied = try #require(limit, "\(byDefault.stderr)")
        #expect(applied > 0 && applied <= share, "limit \(applied) MB, 80% of MemTotal over 2 workers \(share) MB")
        let (none, noLimit) = try limitLine(["--worker-memory", "none"])
        #expect(none.status == 0 && noLimit == nil, "\(none.stderr)")
        let (given, one) = try limitLine(["--worker-memory", "2g"])
        #expect(given.status == 0 && one == 2048, "\(given.stderr)")

        let bad = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                                                    "--output", fixture.outputPath("memory-bad"), "--worker-memory", "lots"])
        #expect(bad.status == 64 && bad.stderr.contains("--worker-memory must be"), "\(bad.stderr)")
        let badWorker = try EndToEndFixture.scoreCluster(["worker", "--connect", "127.0.0.1:1", "--memory-limit", "0"])
        #expect(badWorker.status == 64 && badWorker.stderr.contains("--memory-limit must be"), "\(badWorker.stderr)")
    }
}
