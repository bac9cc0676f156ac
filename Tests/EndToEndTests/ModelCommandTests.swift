import Foundation
import TestSupport
import Testing

/// `score-cluster model save | add-flavor | loader-src | inspect | predict`, run as a user runs
/// them: the saved model is scored by `score-cluster run` and loaded by MLflow, the exported
/// loader runs in a Python that has only numpy and pandas, and every prediction is checked
/// against the model's own loader.
@Suite("score-cluster model commands", .serialized)
struct ModelCommandTests {
    let fixture: EndToEndFixture

    init() throws { fixture = try EndToEndFixture.shared.get() }

    /// A seed-format loader module: load_pyfunc(path) reads the weights in the data directory.
    /// `_load_pyfunc` is the same function, so that MLflow can load the saved model too.
    static let loaderSource = """
        import os

        import numpy as np


        class AffineModel:
            def __init__(self, weights, intercept):
                self.weights = weights
                self.intercept = intercept

            def predict(self, df):
                return df.to_numpy(dtype=np.float64) @ self.weights + self.intercept


        def load_pyfunc(path):
            return AffineModel(np.load(os.path.join(path, "weights.npy")), float(np.load(os.path.join(path, "intercept.npy"))))


        _load_pyfunc = load_pyfunc
        """

    /// A loader file, a weights directory, a conda.yaml and a 3-column dataset (a, b with nulls, c) written with pyarrow.
    struct Sources {
        let root: URL
        var loader: String { root.appendingPathComponent("affine_loader.py").path }
        var weights: String { root.appendingPathComponent("weights").path }
        var conda: String { root.appendingPathComponent("env.yaml").path }
        var dataset: String { root.appendingPathComponent("data.parquet").path }
    }

    func makeSources() throws -> Sources {
        let sources = Sources(root: try TestEnvironment.makeTemporaryDirectory("model-cmd"))
        try Self.loaderSource.write(toFile: sources.loader, atomically: true, encoding: .utf8)
        try "name: affine\ndependencies:\n  - python=3.11\n  - pip:\n    - numpy\n    - pandas\n"
            .write(toFile: sources.conda, atomically: true, encoding: .utf8)
        try TestEnvironment.runPython("""
            import os, sys
            import numpy as np, pyarrow as pa, pyarrow.parquet as pq
            weights, dataset = sys.argv[1], sys.argv[2]
            os.makedirs(weights)
            np.save(os.path.join(weights, "weights.npy"), np.array([1.5, -2.0, 0.25]))
            np.save(os.path.join(weights, "intercept.npy"), np.float64(0.125))
            rng = np.random.default_rng(3)
            n = 2500
            pq.write_table(pa.table({
                "id": np.arange(n, dtype=np.int64),
                "a": rng.normal(size=n),
                "b": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.05),
                "c": rng.normal(size=n),
            }), dataset, row_group_size=1000)
            """, [sources.weights, sources.dataset])
        return sources
    }

    /// Saves the affine model to a new directory under `sources.root`.
    func save(_ sources: Sources, as name: String = "saved") throws -> String {
        let destination = sources.root.appendingPathComponent(name).path
        let result = try EndToEndFixture.scoreCluster(["model", "save", destination, "--loader-module", "affine_loader",
                                                       "--data", sources.weights, "--code", sources.loader, "--conda-env", sources.conda])
        #expect(result.status == 0, "\(result.stderr)")
        return destination
    }

    /// The expected predictions on the dataset's a, b, c: one line each, "nan" where b is null.
    func expected(_ sources: Sources) throws -> [Double] {
        let text = try TestEnvironment.runPython("""
            import sys, numpy as np, pyarrow.parquet as pq
            t = pq.read_table(sys.argv[1])
            x = np.column_stack([t.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in ("a", "b", "c")])
            for v in x @ np.array([1.5, -2.0, 0.25]) + 0.125:
                print(repr(float(v)))
            """, [sources.dataset])
        return text.split(separator: "\n").map { Double($0)! }
    }

    /// Compares printed predictions ("null" for null) with `expected` (NaN for null).
    func expectSame(_ lines: [Substring], _ expected: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(lines.count == expected.count, sourceLocation: sourceLocation)
        var mismatches = 0
        for (line, want) in zip(lines, expected) {
            if want.isNaN {
                if line != "null" { mismatches += 1 }
            } else if let got = Double(line), abs(got - want) <= 1e-12 * max(1, abs(want)) {
                continue
            } else {
                mismatches += 1
            }
        }
        #expect(mismatches == 0, "\(mismatches) predictions differ", sourceLocation: sourceLocation)
    }

    // MARK: - save

    @Test("save copies data, code and env and writes the flavor; run scores the saved model; MLflow loads it")
    func saveThenRun() throws {
        let sources = try makeSources()
        let saved = try save(sources)
        for path in ["MLmodel", "code/affine_loader.py", "data/weights/weights.npy", "data/weights/intercept.npy", "conda.yaml"] {
            #expect(FileManager.default.fileExists(atPath: saved + "/" + path), "\(path) missing")
        }
        let flavor = try TestEnvironment.runPython("""
            import sys, yaml
            m = yaml.safe_load(open(sys.argv[1] + "/MLmodel"))
            f = m["flavors"]["python_function"]
            print(sorted(m), f["loader_module"], f["code"], f["data"], f["env"], f["python_version"].startswith("3.11."))
            """, [saved])
        #expect(flavor.trimmingCharacters(in: .whitespacesAndNewlines) ==
                "['flavors', 'model_uuid', 'utc_time_created'] affine_loader code data/weights {'conda': 'conda.yaml'} True")

        let output = sources.root.appendingPathComponent("scored").path
        let run = try EndToEndFixture.scoreCluster(["run", "--model", saved, "--input", sources.dataset, "--output", output,
                                                    "--workers", "2", "--columns", "a,b,c", "--keep-columns", "id", "--preview", "0"])
        #expect(run.status == 0, "\(run.stderr)")
        let scored = try TestEnvironment.runPython("""
            import sys, pyarrow.parquet as pq
            t = pq.read_table(sys.argv[1])
            assert t.column("id").to_pylist() == list(range(2500))
            for v in t.column("prediction").to_pylist():
                print("null" if v is None else repr(v))
            """, [output])
        expectSame(scored.split(separator: "\n"), try expected(sources))

        // The MLmodel is one MLflow itself reads: mlflow.pyfunc.load_model scores it the same way.
        let mlflow = try TestEnvironment.runPython("""
            import sys, mlflow.pyfunc, pyarrow.parquet as pq
            frame = pq.read_table(sys.argv[2]).select(["a", "b", "c"]).to_pandas()
            frame.columns = ["0", "1", "2"]
            for v in mlflow.pyfunc.load_model(sys.argv[1]).predict(frame):
                print("null" if v != v else repr(float(v)))
            """, [saved, sources.dataset])
        expectSame(mlflow.split(separator: "\n"), try expected(sources))
    }

    @Test("save refuses an existing destination and leaves nothing behind when an input is missing")
    func saveRefusals() throws {
        let sources = try makeSources()
        let saved = try save(sources)
        let again = try EndToEndFixture.scoreCluster(["model", "save", saved, "--loader-module", "affine_loader", "--data", sources.weights])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already exists"))

        let missing = sources.root.appendingPathComponent("never").path
        let bad = try EndToEndFixture.scoreCluster(["model", "save", missing, "--loader-module", "affine_loader",
                                                    "--data", sources.weights, "--code", sources.root.appendingPathComponent("nope.py").path])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("nope.py does not exist"))
        #expect(!FileManager.default.fileExists(atPath: missing))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: sources.root.path).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)

        let file = try EndToEndFixture.scoreCluster(["model", "save", missing, "--loader-module", "affine_loader.py"])
        #expect(file.status != 0)
        #expect(file.stderr.contains("--loader-module affine_loader --code affine_loader.py"))
    }

    // MARK: - add-flavor

    @Test("add-flavor replaces python_function in an MLflow model directory and keeps its other flavors and keys")
    func addFlavorKeepsOtherFlavors() throws {
        let sources = try makeSources()
        let model = sources.root.appendingPathComponent("sklearn_copy")
        try FileManager.default.copyItem(at: fixture.linearModel, to: model)
        try FileManager.default.createDirectory(at: model.appendingPathComponent("code"), withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: sources.loader, toPath: model.appendingPathComponent("code/affine_loader.py").path)
        try FileManager.default.copyItem(atPath: sources.weights, toPath: model.appendingPathComponent("weights").path)

        let refused = try EndToEndFixture.scoreCluster(["model", "add-flavor", model.path, "--loader-module", "affine_loader",
                                                        "--data", "no_such_dir"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("does not exist"))

        let added = try EndToEndFixture.scoreCluster(["model", "add-flavor", model.path, "--loader-module", "affine_loader",
                                                      "--code", "code", "--data", model.appendingPathComponent("weights").path,
                                                      "--env", "conda.yaml", "--env", "python_env.yaml"])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("replaced the python_function flavor"))
        let compared = try TestEnvironment.runPython("""
            import sys, yaml
            old = yaml.safe_load(open(sys.argv[1] + "/MLmodel"))
            new = yaml.safe_load(open(sys.argv[2] + "/MLmodel"))
            assert new["flavors"]["sklearn"] == old["flavors"]["sklearn"], new["flavors"]
            for key in old:
                if key != "flavors":
                    assert new[key] == old[key], key
            assert sorted(new) == sorted(old), (sorted(new), sorted(old))
            f = new["flavors"]["python_function"]
            assert f == {"code": "code", "data": "weights", "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                         "loader_module": "affine_loader", "python_version": f["python_version"]}, f
            print("OK")
            """, [fixture.linearModel.path, model.path])
        #expect(compared.contains("OK"))

        // The new flavor is the one that loads: predict scores with the affine loader.
        let predicted = try EndToEndFixture.scoreCluster(["model", "predict", model.path, "--input", sources.dataset,
                                                          "--columns", "a,b,c"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        expectSame(predicted.stdout.split(separator: "\n"), try expected(sources))
    }

    // MARK: - loader-src

    @Test("the exported loader predicts the same values in a Python with only numpy and pandas, without importing MLflow")
    func loaderSourceWithoutMLflow() throws {
        let sources = try makeSources()
        let saved = try save(sources)
        let loader = sources.root.appendingPathComponent("export/affine_export.py")
        try FileManager.default.createDirectory(at: loader.deletingLastPathComponent(), withIntermediateDirectories: true)
        let generated = try EndToEndFixture.scoreCluster(["model", "loader-src", saved, "--dest", saved, "--output", loader.path])
        #expect(generated.status == 0, "\(generated.stderr)")
        let source = try String(contentsOf: loader, encoding: .utf8)
        #expect(!source.contains("import mlflow") && !source.contains("score_cluster"))
        #expect(source.contains("DATA_PATH = '\(saved)/data/weights'"))

        // A site-packages holding only numpy, pandas and pandas' dateutil, linked from the project's environment.
        let plain = sources.root.appendingPathComponent("plain-site")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: false)
        let site = try TestEnvironment.runPython("import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        for name in ["numpy", "numpy.libs", "pandas", "pandas.libs", "dateutil"] where FileManager.default.fileExists(atPath: site + "/" + name) {
            try FileManager.default.createSymbolicLink(atPath: plain.appendingPathComponent(name).path, withDestinationPath: site + "/" + name)
        }
        // The rows of the dataset, passed as JSON so that the plain Python needs no pyarrow.
        let rows = try TestEnvironment.runPython("""
            import sys, json, pyarrow.parquet as pq
            t = pq.read_table(sys.argv[1]).select(["a", "b", "c"])
            print(json.dumps([[None if v is None else v for v in t.column(n).to_pylist()] for n in ("a", "b", "c")]))
            """, [sources.dataset])
        let rowsFile = sources.root.appendingPathComponent("rows.json")
        try rows.write(to: rowsFile, atomically: true, encoding: .utf8)

        let result = try TestEnvironment.run(TestEnvironment.python, ["-I", "-S", "-c", """
            import sys
            sys.path = [p for p in sys.path if "site-packages" not in p] + [sys.argv[1], sys.argv[2]]
            import importlib.util
            assert importlib.util.find_spec("mlflow") is None, "mlflow is importable"
            import json, numpy as np, pandas as pd
            import affine_export
            columns = json.load(open(sys.argv[3]))
            frame = pd.DataFrame({str(i): np.array(c, dtype=np.float64) for i, c in enumerate(columns)})
            for v in affine_export.predict(frame):
                print("null" if v != v else repr(float(v)))
            assert "mlflow" not in sys.modules, "mlflow was imported"
            assert not any(m.startswith("pyarrow") for m in sys.modules), "pyarrow was imported"
            """, plain.path, loader.deletingLastPathComponent().path, rowsFile.path])
        #expect(result.status == 0, "\(result.stderr)")
        expectSame(result.stdout.split(separator: "\n"), try expected(sources))

        // For an MLflow flavor the loader says that it needs MLflow.
        let mlflow = try EndToEndFixture.scoreCluster(["model", "loader-src", fixture.linearModel.path])
        #expect(mlflow.status == 0, "\(mlflow.stderr)")
        #expect(mlflow.stdout.contains("NOTE: the loader module 'mlflow.sklearn' is part of MLflow"))
        #expect(mlflow.stderr.contains("needs MLflow installed"))
    }

    // MARK: - inspect

    /// Runs `model inspect DIR --json`; returns the exit status and the parsed report.
    func inspect(_ directory: String) throws -> (status: Int32, report: [String: Any]) {
        let result = try EndToEndFixture.scoreCluster(["model", "inspect", directory, "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        guard let report = parsed as? [String: Any] else { throw TestFailure("inspect printed no JSON object:\n\(result.stdout)\n\(result.stderr)") }
        return (result.status, report)
    }

    func codes(_ report: [String: Any], _ key: String) -> Set<String> {
        Set(((report[key] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String })
    }

    @Test("inspect --json describes an MLflow sklearn model as loadable, its loader found in the environment")
    func inspectSklearn() throws {
        let (status, report) = try inspect(fixture.linearModel.path)
        #expect(status == 0)
        #expect(report["loadable"] as? Bool == true)
        #expect(codes(report, "blockers").isEmpty)
        #expect(codes(report, "warnings") == ["mlflow_loader"])
        #expect((report["flavors"] as? [String]) == ["python_function", "sklearn"])
        let pyfunc = try #require(report["pyfunc"] as? [String: Any])
        #expect(pyfunc["loader_module"] as? String == "mlflow.sklearn")
        #expect(pyfunc["loader_is_mlflow"] as? Bool == true)
        #expect(pyfunc["loader_found_in"] as? String == "environment")
        #expect((pyfunc["loader_file"] as? String)?.hasSuffix("site-packages/mlflow/sklearn/__init__.py") == true)
        #expect(pyfunc["model_path"] as? String == "model.skops")
        #expect(pyfunc["predict_fn"] as? String == "predict")
        #expect(pyfunc["data_path"] as? String == fixture.linearModel.standardizedFileURL.path)
        #expect((pyfunc["python_version"] as? String)?.hasPrefix("3.11.") == true)
        let env = (report["environment_files"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        #expect(env == ["conda.yaml", "python_env.yaml", "requirements.txt"])
    }

    @Test("inspect --json on a broken model lists every blocker and the signature, and exits 1")
    func inspectBroken() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("broken-model")
        let inputs = #"[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": false}]"#
        let outputs = #"[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]"#
        let params = #"[{"name": "alpha", "type": "double", "default": 0.5, "shape": null}]"#
        try """
            flavors:
              python_function:
                code: code
                data: data/model.bin
                env: conda.yaml
                loader_module: ghost_loader
                python_version: 3.9.18
            signature:
              inputs: '\(inputs)'
              outputs: '\(outputs)'
              params: '\(params)'
            """.write(to: dir.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        let (status, report) = try inspect(dir.path)
        #expect(status == 1)
        #expect(report["loadable"] as? Bool == false)
        #expect(codes(report, "blockers") == ["missing_code_directory", "missing_data_path", "python_version_mismatch", "loader_not_found"])
        #expect(codes(report, "warnings") == ["missing_environment_file"])
        let signature = try #require(report["signature"] as? [String: Any])
        let inputSpecs = (signature["inputs"] as? [[String: Any]]) ?? []
        #expect(inputSpecs.compactMap { $0["name"] as? String } == ["a", "b"])
        #expect(inputSpecs.compactMap { $0["required"] as? Bool } == [true, false])
        #expect(((signature["outputs"] as? [[String: Any]])?.first?["type"] as? String) == "tensor<float64>[-1]")
        #expect(((signature["params"] as? [[String: Any]])?.first?["default"] as? String) == "0.5")

        // A loader that only the seed format would find (in a subdirectory of code/), and no MLmodel at all.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("code/src"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
        try "def load_pyfunc(path):\n    return None\n".write(to: dir.appendingPathComponent("code/src/ghost_loader.py"), atomically: true, encoding: .utf8)
        try "x".write(to: dir.appendingPathComponent("data/model.bin"), atomically: true, encoding: .utf8)
        let nested = try inspect(dir.path)
        #expect(codes(nested.report, "blockers") == ["python_version_mismatch", "loader_in_code_subdirectory"])

        let text = try EndToEndFixture.scoreCluster(["model", "inspect", dir.path])
        #expect(text.status == 1)
        #expect(text.stdout.contains("will not load:") && text.stdout.contains("inputs        a: double, b: long (optional)"))

        try FileManager.default.removeItem(at: dir.appendingPathComponent("MLmodel"))
        #expect(codes(try inspect(dir.path).report, "blockers") == ["no_mlmodel"])
    }

    // MARK: - predict

    @Test("predict prints the seed loader's predictions, null for null rows, and writes CSV and JSON lines")
    func predictMatchesSeedLoader() throws {
        let input = fixture.dataset.appendingPathComponent("part-00001.parquet").path
        let printed = try EndToEndFixture.scoreCluster(["model", "predict", fixture.seedModel.path, "--input", input,
                                                        "--columns", "f0,f1,f2,f3"])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stderr.contains("scored 2300 rows"))
        let reference = try TestEnvironment.runPython("""
            import os, sys, importlib, numpy as np, pyarrow.parquet as pq
            model_dir, path = sys.argv[1], sys.argv[2]
            sys.path.insert(0, os.path.join(model_dir, "code"))
            model = importlib.import_module("seed_linear_model").load_pyfunc(os.path.join(model_dir, "data"))
            frame = pq.read_table(path).select(["f0", "f1", "f2", "f3"]).to_pandas()
            frame.columns = ["0", "1", "2", "3"]
            for v in np.asarray(model.predict(frame), dtype=np.float64):
                print(repr(float(v)))
            """, [fixture.seedModel.path, input])
        let expected = reference.split(separator: "\n").map { Double($0)! }
        #expect(expected.contains { $0.isNaN })
        expectSame(printed.stdout.split(separator: "\n"), expected)

        let csv = fixture.outputPath("predict") + ".csv"
        let jsonl = fixture.outputPath("predict") + ".jsonl"
        for file in [csv, jsonl] {
            let written = try EndToEndFixture.scoreCluster(["model", "predict", fixture.seedModel.path, "--input", input,
                                                            "--columns", "f0,f1,f2,f3", "--limit", "100", "--output", file])
            #expect(written.status == 0, "\(written.stderr)")
            #expect(written.stdout.isEmpty)
        }
        let check = try TestEnvironment.runPython("""
            import sys, json, math
            import pandas as pd
            csv = pd.read_csv(sys.argv[1])["prediction"].tolist()
            lines = [json.loads(l)["prediction"] for l in open(sys.argv[2])]
            expected = [float(v) for v in sys.argv[3].split(",")]
            assert len(csv) == len(lines) == 100
            for c, j, e in zip(csv, lines, expected):
                if math.isnan(e):
                    assert math.isnan(c) and j is None
                else:
                    assert abs(c - e) <= 1e-12 * max(1, abs(e)) and abs(j - e) <= 1e-12 * max(1, abs(e)), (c, j, e)
            print("OK")
            """, [csv, jsonl, expected.prefix(100).map { "\($0)" }.joined(separator: ",")])
        #expect(check.contains("OK"))

        let badType = try EndToEndFixture.scoreCluster(["model", "predict", fixture.seedModel.path, "--input", input, "--output", "x.txt"])
        #expect(badType.status != 0)
        #expect(badType.stderr.contains("--output must end in .csv or .jsonl"))
    }
}
