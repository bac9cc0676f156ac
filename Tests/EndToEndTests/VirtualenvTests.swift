import Foundation
import TestSupport
import Testing

/// `--env-manager virtualenv`: a model whose requirements differ from the project's environment
/// scores in an environment built from its own requirements, once per machine.
@Suite("Model environments with --env-manager virtualenv", .serialized)
struct VirtualenvTests {
    /// A seed-format model that needs six 1.16.0, which the project's environment does not have.
    func makeModel() throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("venv-model")
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("code"), withIntermediateDirectories: true)
        try """
            flavors:
              python_function:
                loader_module: six_model
                code: code
                env:
                  virtualenv: python_env.yaml
                python_version: 3.11.2
            """.write(to: dir.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        try "python: 3.11.2\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
            .write(to: dir.appendingPathComponent("python_env.yaml"), atomically: true, encoding: .utf8)
        try "numpy==2.4.6\npandas==3.1.1\nsix==1.16.0\n".write(to: dir.appendingPathComponent("requirements.txt"), atomically: true, encoding: .utf8)
        try """
            import six

            class SixModel:
                def predict(self, df):
                    # Proves the model runs in its own environment.
                    assert six.__version__ == "1.16.0", six.__version__
                    return df["0"] * 2 + float(six.__version__.split(".")[1])

            def load_pyfunc(path):
                return SixModel()
            """.write(to: dir.appendingPathComponent("code/six_model.py"), atomically: true, encoding: .utf8)
        return dir
    }

    @Test("two concurrent runs build the model's environment once, and both score in it")
    func buildOnceAndScore() throws {
        let fixture = try EndToEndFixture.shared.get()
        let model = try makeModel()
        let cache = try TestEnvironment.makeTemporaryDirectory("env-cache")
        let outputs = (0..<2).map { fixture.outputPath("venv-\($0)") }
        nonisolated(unsafe) var results: [TestEnvironment.ProcessResult?] = [nil, nil]
        let group = DispatchGroup()
        for i in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                results[i] = try? EndToEndFixture.scoreCluster([
                    "run", "--model", model.path, "--input", fixture.dataset.path, "--output", outputs[i],
                    "--columns", "f1", "--workers", "1", "--env-manager", "virtualenv", "--env-cache", cache.path, "--preview", "0"])
                group.leave()
            }
        }
        group.wait()
        let runs = results.compactMap { $0 }
        try #require(runs.count == 2)
        for run in runs { #expect(run.status == 0, "\(run.stderr)") }
        let builds = runs.map { $0.stderr.components(separatedBy: "virtualenv: environment ready").count - 1 }.reduce(0, +)
        #expect(builds == 1, "environment built \(builds) times")
        let check = try TestEnvironment.runPython("""
            import pyarrow.parquet as pq, numpy as np, sys
            for out in sys.argv[2:]:
                t = pq.read_table(out)
                src = pq.read_table(sys.argv[1])
                assert np.allclose(t.column('prediction').to_numpy(), src.column('f1').to_numpy() * 2 + 16), out
            print('OK')
            """, [fixture.dataset.path] + outputs)
        #expect(check.contains("OK"))
    }

    @Test("a model asking for another Python minor version is refused before any work")
    func otherMinorVersion() throws {
        let fixture = try EndToEndFixture.shared.get()
        let model = try makeModel()
        try "python: 3.10.12\ndependencies:\n- -r requirements.txt\n"
            .write(to: model.appendingPathComponent("python_env.yaml"), atomically: true, encoding: .utf8)
        let output = fixture.outputPath("venv-310")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", model.path, "--input", fixture.dataset.path, "--output", output,
                                                    "--env-manager", "virtualenv", "--env-cache",
                                                    try TestEnvironment.makeTemporaryDirectory("env-cache").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("3.10") && run.stderr.contains("3.11"))
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test("--env-manager uv builds the model's environment with uv once, scores in it, and names a requirement it cannot install")
    func uvBuildsTheEnvironment() throws {
        let fixture = try EndToEndFixture.shared.get()
        let model = try makeModel()
        let cache = try TestEnvironment.makeTemporaryDirectory("env-cache-uv")
        let output = fixture.outputPath("uv")
        let arguments = ["run", "--model", model.path, "--input", fixture.dataset.path, "--columns", "f1", "--workers", "1",
                         "--env-manager", "uv", "--env-cache", cache.path, "--preview", "0"]
        let first = try EndToEndFixture.scoreCluster(arguments + ["--output", output])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("uv: environment ready"), "\(first.stderr)")
        let second = try EndToEndFixture.scoreCluster(arguments + ["--output", fixture.outputPath("uv-again")])
        #expect(second.status == 0 && second.stderr.contains("uv: using the environment") && !second.stderr.contains("environment ready"))
        // Built by uv (its marker says so), not by pip, and keyed apart from a pip build of the same requirements.
        let built = try FileManager.default.contentsOfDirectory(atPath: cache.path).filter { $0.hasSuffix("-uv") }
        #expect(built.count == 1, "\(built)")
        let marker = try String(contentsOfFile: cache.appendingPathComponent(built[0]).path + "/score-cluster/env.json", encoding: .utf8)
        #expect(marker.contains("\"installer\" : \"uv\""), "\(marker)")
        let check = try TestEnvironment.runPython("""
            import pyarrow.parquet as pq, numpy as np, sys
            t, src = pq.read_table(sys.argv[2]), pq.read_table(sys.argv[1])
            assert np.allclose(t.column('prediction').to_numpy(), src.column('f1').to_numpy() * 2 + 16)
            print('OK')
            """, [fixture.dataset.path, output])
        #expect(check.contains("OK"))

        try "numpy==2.4.6\npandas==3.1.1\nsix==999.0.0\n".write(to: model.appendingPathComponent("requirements.txt"), atomically: true, encoding: .utf8)
        let failed = try EndToEndFixture.scoreCluster(arguments + ["--output", fixture.outputPath("uv-bad")])
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("uv could not install") && failed.stderr.contains("failing requirement 'six==999.0.0'"), "\(failed.stderr)")
    }
}
