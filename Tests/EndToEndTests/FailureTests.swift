import Foundation
import TestSupport
import Testing

/// Every way a job can fail ends with a non-zero exit, a message that names what is at fault,
/// and no output that looks complete.
@Suite("score-cluster run, failures", .serialized)
struct FailureTests {
    let fixture: EndToEndFixture

    init() throws { fixture = try EndToEndFixture.shared.get() }

    /// Runs a job that must fail; returns its standard error.
    func failingRun(model: String, input: String? = nil, extra: [String] = ["--columns", "f0,f1,f2,f3"]) throws -> String {
        let output = fixture.outputPath("fail")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", model, "--input", input ?? fixture.dataset.path,
                                                    "--output", output, "--workers", "2"] + extra)
        #expect(run.status != 0, "the run succeeded: \(run.stdout)")
        #expect(!FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
        #expect(!FileManager.default.fileExists(atPath: output), "a failed run left \(output) behind")
        return run.stderr
    }

    @Test("a missing model directory")
    func missingModel() throws {
        let stderr = try failingRun(model: "/nonexistent/model")
        #expect(stderr.contains("/nonexistent/model") && stderr.contains("does not exist"))
    }

    @Test("an MLmodel without python_function")
    func noPyfuncFlavor() throws {
        let model = try fixture.makeSeedModel("", mlmodel: "flavors:\n  sklearn: {pickled_model: model.pkl}\n")
        let stderr = try failingRun(model: model.path)
        #expect(stderr.contains("python_function") && stderr.contains(model.lastPathComponent))
    }

    @Test("a loader module that cannot be imported")
    func importError() throws {
        let model = try fixture.makeSeedModel("import no_such_dependency_xyz\n")
        let stderr = try failingRun(model: model.path)
        #expect(stderr.contains("No module named 'no_such_dependency_xyz'"))
        #expect(stderr.contains("Traceback"))
    }

    @Test("a model that raises while loading")
    func loadRaises() throws {
        let model = try fixture.makeSeedModel("def load_pyfunc(path):\n    raise RuntimeError('the weights file is corrupt')\n")
        let stderr = try failingRun(model: model.path)
        #expect(stderr.contains("could not load the model") && stderr.contains("the weights file is corrupt"))
        #expect(stderr.contains("in load_pyfunc"))
    }

    @Test("a model that raises in predict: the partition, file and traceback are named")
    func predictRaises() throws {
        let model = try fixture.makeSeedModel("""
            class M:
                def predict(self, df):
                    if df['0'].isna().any():
                        raise ValueError('cannot score rows with missing f0')
                    return df['0']
            def load_pyfunc(path):
                return M()
            """)
        let stderr = try failingRun(model: model.path)
        #expect(stderr.contains("cannot score rows with missing f0"))
        // Whichever worker fails first names its partition, file and row group.
        #expect(stderr.contains(#/partition \d+ \(\S+/part-0000\d\.parquet, rows \d+\.\.<\d+ of the file\)/#))
        #expect(stderr.contains("in predict"))
    }

    @Test("a model whose result has the wrong number of rows")
    func wrongRowCount() throws {
        let model = try fixture.makeSeedModel("""
            class M:
                def predict(self, df):
                    return df['0'].iloc[:1]
            def load_pyfunc(path):
                return M()
            """)
        let stderr = try failingRun(model: model.path)
        #expect(stderr.contains("RESULT_ROWS_MISMATCH") && stderr.contains("partition"))
    }

    @Test("a worker that dies: its batches are retried elsewhere until no worker is left")
    func workerDies() throws {
        let model = try fixture.makeSeedModel("""
            import os
            class M:
                def predict(self, df):
                    os._exit(3)
            def load_pyfunc(path):
                return M()
            """)
        let stderr = try failingRun(model: model.path)
        #expect(stderr.contains("no worker is left") || stderr.contains("attempted"))
        #expect(stderr.contains("disconnected") || stderr.contains("exited with status 3"))
    }

    @Test("a column that is not in the dataset")
    func missingColumn() throws {
        let stderr = try failingRun(model: fixture.seedModel.path, extra: ["--columns", "f0,nope"])
        #expect(stderr.contains("'nope'") && stderr.contains("part-00000.parquet") && stderr.contains("f0"))
    }

    @Test("a column whose type differs between files")
    func mistypedColumn() throws {
        let input = fixture.root.appendingPathComponent("mistyped-\(UUID().uuidString.prefix(6))").path
        try TestEnvironment.runPython("""
            import pyarrow as pa, pyarrow.parquet as pq, os, sys
            os.makedirs(sys.argv[1])
            pq.write_table(pa.table({'f0': [1.0, 2.0]}), sys.argv[1] + '/a.parquet')
            pq.write_table(pa.table({'f0': ['x', 'y']}), sys.argv[1] + '/b.parquet')
            """, [input])
        let stderr = try failingRun(model: fixture.seedModel.path, input: input, extra: ["--columns", "f0"])
        #expect(stderr.contains("'f0'") && stderr.contains("b.parquet") && stderr.contains("string"))
    }

    @Test("a malformed Parquet file in the input")
    func malformedParquet() throws {
        let input = fixture.root.appendingPathComponent("malformed-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        let good = try Data(contentsOf: fixture.dataset.appendingPathComponent("part-00000.parquet"))
        try good.write(to: input.appendingPathComponent("part-00000.parquet"))
        try good.prefix(good.count / 2).write(to: input.appendingPathComponent("part-00001.parquet"))
        let stderr = try failingRun(model: fixture.seedModel.path, input: input.path)
        #expect(stderr.contains("part-00001.parquet"))
    }

    @Test("a corrupt page in a kept column the model does not read: named when its chunk is copied, nothing left behind")
    func corruptKeptColumn() throws {
        let input = fixture.root.appendingPathComponent("corrupt-kept-\(UUID().uuidString.prefix(6))")
        try TestEnvironment.runPython("""
            import os, shutil, sys, pyarrow.parquet as pq
            src, out = sys.argv[1], sys.argv[2]
            os.makedirs(out)
            for name in sorted(os.listdir(src)):
                if name.endswith('.parquet'): shutil.copy(os.path.join(src, name), os.path.join(out, name))
            path = os.path.join(out, 'part-00001.parquet')
            column = pq.ParquetFile(path).metadata.row_group(0).column(5)   # 'name', which the model does not read
            start = column.dictionary_page_offset or column.data_page_offset
            with open(path, 'r+b') as f:
                f.seek(start)
                f.write(bytes([255]) * 32)
            """, [fixture.dataset.path, input.path])
        let stderr = try failingRun(model: fixture.seedModel.path, input: input.path)
        #expect(stderr.contains("cannot read the input") && stderr.contains("part-00001.parquet")
                && stderr.contains("name") && stderr.contains("row group 0"), "\(stderr)")
        #expect(!stderr.contains("--resume"), "a corrupt input is not an interruption: \(stderr)")
    }

    @Test("an unknown result type")
    func badResultType() throws {
        let stderr = try failingRun(model: fixture.seedModel.path, extra: ["--columns", "f0,f1,f2,f3", "--result-type", "decimal"])
        #expect(stderr.contains("invalid result type 'decimal'"))
    }
}

/// Workers that hang, and a coordinator told to stop: bounded in time, nothing left behind.
@Suite("Hung workers and signals", .serialized)
struct HangAndSignalTests {
    let fixture: EndToEndFixture
    init() throws { fixture = try EndToEndFixture.shared.get() }

    func hangingModel() throws -> URL {
        try fixture.makeSeedModel("""
            import time
            class M:
                def predict(self, df):
                    time.sleep(3600)
            def load_pyfunc(path):
                return M()
            """)
    }

    func noScoreClusterProcessesLeft(_ marker: String) -> Bool {
        let ps = try? TestEnvironment.run("/usr/bin/pgrep", ["-f", marker])
        return ps?.stdout.isEmpty ?? true
    }

    @Test("a batch held past --task-timeout loses its worker; out of attempts, the job fails instead of hanging")
    func taskTimeout() throws {
        let model = try hangingModel()
        let output = fixture.outputPath("timeout")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", model.path, "--input", fixture.dataset.path,
                                                    "--output", output, "--columns", "f1", "--workers", "1",
                                                    "--task-timeout", "2", "--max-attempts", "1"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("--task-timeout 2 s") && run.stderr.contains("part-00000.parquet"))
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(noScoreClusterProcessesLeft(model.path))
    }

    @Test("SIGTERM stops the job: workers stopped, nothing committed, a message and a non-zero exit")
    func sigterm() throws {
        let model = try hangingModel()
        let output = fixture.outputPath("sigterm")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: EndToEndFixture.binary)
        process.arguments = ["run", "--model", model.path, "--input", fixture.dataset.path, "--output", output,
                             "--columns", "f1", "--workers", "2"]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["VIRTUAL_ENV": TestEnvironment.repoRoot.appendingPathComponent(".venv").path]) { $1 }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        sleep(4)
        process.terminate()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(text.contains("stopped by SIGTERM"))
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(noScoreClusterProcessesLeft(model.path))
    }
}
