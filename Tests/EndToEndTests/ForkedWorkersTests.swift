import Foundation
import TestSupport
import Testing

/// `run --fork-workers` (the default) and `worker --processes N`: one process loads the model and
/// forks the other workers, which share it; a model that starts threads makes them spawn instead.
@Suite("Forked workers", .serialized)
struct ForkedWorkersTests {
    /// A seed model whose loader appends its process id to `loads.txt` beside the model (so a
    /// test counts the loads), runs `atLoad` and takes 2 s (so that workers started together all
    /// load it before a job this small is done); it predicts f1 * 2.
    private func countingModel(_ fixture: EndToEndFixture, atLoad: String = "pass") throws -> (model: URL, loads: () -> [String]) {
        let model = try fixture.makeSeedModel("""
            import os, threading, time
            class M:
                def predict(self, df):
                    return df['0'] * 2
            def load_pyfunc(path):
                with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'loads.txt'), 'a') as f:
                    f.write(f'{os.getpid()}\\n')
                \(atLoad)
                time.sleep(2)
                return M()
            """)
        let loads = model.appendingPathComponent("loads.txt").path
        return (model, { ((try? String(contentsOfFile: loads, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) })
    }

    private func reportWorkers(_ path: String) throws -> [[String: Any]] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return json?["workers"] as? [[String: Any]] ?? []
    }

    private func run(_ model: URL, workers: Int, _ extra: [String] = [], label: String) throws -> (output: String, result: TestEnvironment.ProcessResult) {
        let fixture = try EndToEndFixture.shared.get()
        let output = fixture.outputPath(label)
        let result = try EndToEndFixture.scoreCluster([
            "run", "--workers", String(workers), "--model", model.path, "--input", fixture.dataset.path, "--output", output,
            "--columns", "f1", "--preview", "0", "--report", output + "-report.json", "--log-level", "debug"] + extra)
        return (output, result)
    }

    private func files(_ directory: String) throws -> [String: Data] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("part-") }
        return try Dictionary(uniqueKeysWithValues: names.map { ($0, try Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0))) })
    }

    @Test("run --workers 3 loads the model once and forks two workers; the output is byte-identical to three spawned workers, which load it three times")
    func forkedLikeSpawned() throws {
        let fixture = try EndToEndFixture.shared.get()
        let (model, loads) = try countingModel(fixture)
        let forked = try run(model, workers: 3, ["--no-workers-read"], label: "forked")
        #expect(forked.result.status == 0, "\(forked.result.stderr)")
        #expect(loads().count == 1, "one load, inherited by the forked workers: \(loads())")
        #expect(forked.result.stderr.contains("forked 2 worker(s) sharing the loaded model"), "\(forked.result.stderr)")
        let joined = try reportWorkers(forked.output + "-report.json")
        #expect(joined.count == 3, "\(joined)")
        #expect(Set(joined.compactMap { $0["pid"] as? Int }).count == 3)
        // The forked ones report no load of their own.
        #expect(joined.filter { ($0["loadSeconds"] as? Double ?? -1) == 0 }.count >= 2, "\(joined)")

        let spawned = try run(model, workers: 3, ["--no-workers-read", "--no-fork-workers"], label: "spawned")
        #expect(spawned.result.status == 0, "\(spawned.result.stderr)")
        #expect(loads().count == 4, "three more loads, one per spawned worker: \(loads())")
        #expect(try files(forked.output) == files(spawned.output))
        #expect(!(try files(forked.output)).isEmpty)
    }

    @Test("a model that starts a thread while loading makes the other workers spawn, each loading it; the job still succeeds")
    func threadAtLoadSpawns() throws {
        let fixture = try EndToEndFixture.shared.get()
        let (model, _) = try countingModel(fixture, atLoad: "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()")
        let job = try run(model, workers: 3, label: "threaded")
        #expect(job.result.status == 0, "\(job.result.stderr)")
        #expect(job.result.stderr.contains("not forking 2 worker(s)") && job.result.stderr.contains("thread(s) besides the worker's own"),
                "\(job.result.stderr)")
        // Spawned after the first process loaded the model, the others may come after the job is done.
        #expect(job.result.stderr.contains("spawning them instead"), "\(job.result.stderr)")
        let rows = try TestEnvironment.runPython("""
            import sys, pyarrow.dataset as ds, pyarrow.compute as pc
            t = ds.dataset(sys.argv[1], format="parquet").to_table()
            print(t.num_rows, pc.all(pc.equal(t["prediction"], pc.multiply(pc.cast(t["f1"], "double"), 2))).as_py())
            """, [job.output])
        #expect(rows.trimmingCharacters(in: .whitespacesAndNewlines) == "7301 True")
    }

    @Test("a model that ends the process while loading fails the job at once, naming the worker, instead of waiting for the workers it was to fork")
    func crashAtLoadFailsJob() throws {
        let fixture = try EndToEndFixture.shared.get()
        let (model, _) = try countingModel(fixture, atLoad: "os._exit(7)")
        let job = try BackgroundProcess(EndToEndFixture.binary, [
            "run", "--workers", "3", "--model", model.path, "--input", fixture.dataset.path, "--output", fixture.outputPath("crash"),
            "--columns", "f1", "--preview", "0"], environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        let result = job.wait(seconds: 120)
        #expect(result.status != 0)
        #expect(result.stderr.contains("exited with status 7"), "\(result.stderr)")
    }

    @Test("worker --processes 3 joins a coordinator as three workers sharing one load of the model")
    func workerProcesses() throws {
        let fixture = try EndToEndFixture.shared.get()
        let (model, loads) = try countingModel(fixture)
        let dir = try TestEnvironment.makeTemporaryDirectory("processes")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "a-shared-secret-of-some-length-4321")
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("processes")
        let coordinator = try BackgroundProcess(EndToEndFixture.binary, [
            "coordinator", "--listen", "127.0.0.1:\(port)", "--min-workers", "3", "--token-file", token, "--wait-for-workers", "120",
            "--model", model.path, "--input", fixture.dataset.path, "--output", output, "--columns", "f1", "--preview", "0",
            "--report", output + "-report.json"])
        // The worker retries until the coordinator listens (--connect-timeout).
        let worker = try TestEnvironment.run(EndToEndFixture.binary, [
            "worker", "--connect", "127.0.0.1:\(port)", "--token-file", token, "--processes", "3",
            "--model-cache", dir.appendingPathComponent("cache").path], environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        let result = coordinator.wait()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(worker.status == 0, "\(worker.stderr)")
        #expect(result.stdout.contains("with 3 worker(s)"), "\(result.stdout)")
        // Received once into the cache and loaded once there (loads.txt is written beside that copy).
        let cache = dir.appendingPathComponent("cache").path
        let cached = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.count == 64 }
        #expect(cached.count == 1)
        let inCache = (try? String(contentsOfFile: "\(cache)/\(cached.first ?? "")/loads.txt", encoding: .utf8)) ?? ""
        #expect(inCache.split(separator: "\n").count == 1, "\(inCache)")
        #expect(loads().isEmpty)
        #expect(try reportWorkers(output + "-report.json").count == 3)
    }
}
