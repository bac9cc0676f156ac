import Foundation
import TestSupport
import Testing
@testable import MLflowModel
@testable import PyFunc

@Suite("MLmodel files and model loading", .serialized)
struct ModelLoadingTests {
    func writeModel(_ mlmodel: String, files: [String: String] = [:]) throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("mlmodel")
        try mlmodel.write(to: dir.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        for (path, text) in files {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return dir
    }

    @Test("an MLflow 3 sklearn MLmodel: loader, model_path, predict_fn, env mapping")
    func sklearnFlavor() throws {
        let dir = try writeModel("""
            flavors:
              python_function:
                env:
                  conda: conda.yaml
                  virtualenv: python_env.yaml
                loader_module: mlflow.sklearn
                model_path: model.skops
                predict_fn: predict_proba
                python_version: 3.11.7
              sklearn:
                pickled_model: model.skops
                serialization_format: skops
            mlflow_version: 3.17.2
            """)
        let model = try MLModel(directory: dir.path)
        #expect(model.flavors == ["python_function", "sklearn"])
        #expect(model.pyfunc.loaderModule == "mlflow.sklearn")
        #expect(model.pyfunc.modelPath == "model.skops")
        #expect(model.pyfunc.predictFunction == "predict_proba")
        #expect(model.pyfunc.dataPath == dir.standardizedFileURL.path)
        #expect(model.pyfunc.codeDirectory == nil)
        #expect(model.pyfunc.environmentFiles == ["conda": "conda.yaml", "virtualenv": "python_env.yaml"])
        #expect(model.pyfunc.pythonVersion == "3.11.7")
        #expect(model.mlflowVersion == "3.17.2")
    }

    @Test("the seed format: main key, env as a string, code and data directories")
    func seedFormat() throws {
        let dir = try writeModel("""
            flavors:
              python_function: {main: my_loader, code: code, data: weights, env: conda.yaml}
            """, files: ["code/my_loader.py": "", "weights/w.npy": ""])
        let model = try MLModel(directory: dir.path)
        #expect(model.pyfunc.loaderModule == "my_loader")
        #expect(model.pyfunc.codeDirectory == dir.standardizedFileURL.path + "/code")
        #expect(model.pyfunc.dataPath == dir.standardizedFileURL.path + "/weights")
        #expect(model.pyfunc.environmentFiles == ["conda": "conda.yaml"])
        #expect(model.pyfunc.predictFunction == "predict")
    }

    @Test("broken model directories give errors that say what is wrong")
    func brokenModels() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        #expect(message { _ = try MLModel(directory: "/nonexistent/model") }.contains("does not exist"))
        let empty = try TestEnvironment.makeTemporaryDirectory("no-mlmodel")
        #expect(message { _ = try MLModel(directory: empty.path) }.contains("has no MLmodel file"))
        let noPyfunc = try writeModel("flavors:\n  sklearn: {pickled_model: model.pkl}\n")
        let text = message { _ = try MLModel(directory: noPyfunc.path) }
        #expect(text.contains("Model does not have the \"python_function\" flavor") && text.contains("sklearn"))
        let badYAML = try writeModel("flavors: [unclosed\n")
        #expect(message { _ = try MLModel(directory: badYAML.path) }.contains("cannot parse"))
        let missingCode = try writeModel("flavors:\n  python_function: {loader_module: m, code: code}\n")
        #expect(message { _ = try MLModel(directory: missingCode.path) }.contains("does not exist"))
    }

    @Test("a loader that cannot be imported, or that raises, is reported with its traceback")
    func loaderFailures() throws {
        let missing = try writeModel("flavors:\n  python_function: {loader_module: no_such_module_here}\n")
        let raising = try makeExpressionModel("0")
        let code = raising.appendingPathComponent("code")
        let module = try #require(FileManager.default.contentsOfDirectory(atPath: code.path).first)
        try "raise RuntimeError('weights are corrupt')\n".write(
            to: code.appendingPathComponent(module), atomically: true, encoding: .utf8)
        let noLoader = try makeExpressionModel("0", loader: "not_a_loader")
        let errors: [PyFuncError] = try PythonHost.shared.run { runtime in
            [missing, raising, noLoader].compactMap { dir -> PyFuncError? in
                do throws(PyFuncError) {
                    _ = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path), columnNames: ["0"], resultType: .double)
                    return nil
                } catch { return error }
            }
        }
        try #require(errors.count == 3)
        #expect(errors[0].message.contains("ModuleNotFoundError") && errors[0].message.contains("no_such_module_here"))
        #expect(errors[1].message.contains("weights are corrupt"))
        #expect(errors[1].traceback?.contains(module) == true)
        #expect(errors[2].message.contains("neither _load_pyfunc(path) nor load_pyfunc(path)"))
    }

    @Test("a virtual environment of another Python minor version is refused, naming both")
    func versionMismatch() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("venv312")
        try "home = /usr/bin\nversion = 3.12.4\n".write(to: dir.appendingPathComponent("pyvenv.cfg"), atomically: true, encoding: .utf8)
        do {
            _ = try PythonEnvironment(path: dir.path)
            Issue.record("accepted a 3.12 environment")
        } catch {
            #expect(error.message.contains("3.12.4") && error.message.contains("3.11"))
        }
        #expect(throws: PyFuncError.self) { _ = try PythonEnvironment(path: "/tmp") }
    }
}

@Suite("The embedded Python's version")
struct EmbeddedPythonVersionTests {
    @Test("what MLflowModel believes the workers embed is what PyFunc was compiled against")
    func majorMinorAgrees() {
        #expect(EmbeddedPython.majorMinor == PythonRuntime.linkedMajorMinor)
        #expect(PythonRuntime.libraryVersion.hasPrefix(EmbeddedPython.majorMinor + "."))
    }
}
