import Foundation
import TestSupport
import Testing

/// Models saved by real MLflow: signatures, PythonModels with code paths, artifacts, params and
/// config, predict_fn, compressed pickles, the cloudpickle format. Each is scored by the built
/// binary and compared with `mlflow.pyfunc.load_model(...).predict` on the same rows.
@Suite("Model kinds saved by MLflow", .serialized)
struct ModelKindsTests {
    /// Models and data made once by Tests/Fixtures/make_pyfunc_models.py.
    static let models: Result<URL, Error> = Result {
        let dir = try TestEnvironment.makeTemporaryDirectory("pyfunc-models").appendingPathComponent("m")
        let script = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/make_pyfunc_models.py").path
        let made = try TestEnvironment.run(TestEnvironment.python, [script, dir.path])
        guard made.status == 0 else { throw TestFailure("make_pyfunc_models.py failed:\n\(made.stderr)") }
        return dir
    }

    let root: URL
    init() throws { root = try Self.models.get() }

    var data: String { root.appendingPathComponent("data").path }

    /// Runs `score-cluster run` on the fixture data; returns the output directory and the result.
    func score(_ model: String, _ extra: [String]) throws -> (output: String, run: TestEnvironment.ProcessResult) {
        let output = root.appendingPathComponent("out-\(model)-\(UUID().uuidString.prefix(6))").path
        let run = try EndToEndFixture.scoreCluster(["run", "--model", root.appendingPathComponent(model).path, "--input", data,
                                                    "--output", output, "--workers", "2", "--preview", "0"] + extra)
        return (output, run)
    }

    /// Checks the output against MLflow's own predictions.
    func check(_ output: String, model: String, columns: String, labels: String, extra: [String] = []) throws {
        let checker = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/check_pyfunc_output.py").path
        let result = try TestEnvironment.run(TestEnvironment.python, [checker, data, output, root.appendingPathComponent(model).path,
                                                                      columns, labels] + extra)
        #expect(result.status == 0 && result.stdout.contains("OK"), "\(result.stderr)")
    }

    @Test("a named signature takes x and y by name from a dataset that orders them otherwise, casting y up to long")
    func namedSignature() throws {
        let (output, run) = try score("signature_named", [])
        #expect(run.status == 0, "\(run.stderr)")
        try check(output, model: "signature_named", columns: "x,y", labels: "x,y")
    }

    @Test("a PythonModel from a code path, with an artifact, params and a model_config override")
    func pythonModel() throws {
        let (output, run) = try score("python_model", ["--params", "scale=2", "--model-config", "offset=5"])
        #expect(run.status == 0, "\(run.stderr)")
        try check(output, model: "python_model", columns: "x,z", labels: "x,z",
                  extra: ["--config", #"{"offset": 5}"#, "--params", #"{"scale": 2.0}"#])
    }

    @Test("a PythonModel whose python_model.pkl is compressed, with its declared config and default params")
    func compressedPickle() throws {
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("compressed/python_model.pkl.gz").path))
        let (output, run) = try score("compressed", [])
        #expect(run.status == 0, "\(run.stderr)")
        try check(output, model: "compressed", columns: "x,z", labels: "x,z")
    }

    @Test("predict_fn predict_proba: a double result takes the leftmost column, as spark_udf does")
    func predictProba() throws {
        let (output, run) = try score("predict_proba", ["--columns", "x"])
        #expect(run.status == 0, "\(run.stderr)")
        try check(output, model: "predict_proba", columns: "x", labels: "0", extra: ["--take-column", "0"])
    }

    @Test("an sklearn model in the cloudpickle format")
    func cloudpickle() throws {
        let (output, run) = try score("cloudpickle", ["--columns", "x,y"])
        #expect(run.status == 0, "\(run.stderr)")
        try check(output, model: "cloudpickle", columns: "x,y", labels: "0,1")
    }

    @Test("mistakes are refused before any work, naming what is wrong")
    func refusals() throws {
        let cases: [(String, [String], String)] = [
            ("signature_named", ["--columns", "extra,y"], "Can not safely convert str to float64"),
            ("signature_named", ["--columns", "x"], "missing required columns"),
            ("python_model", ["--params", "nope=1"], "declares params scale only"),
            ("python_model", ["--params", "scale=abc"], "Can not safely convert 'abc'"),
            ("python_model", ["--model-config", "colour=red"], "it accepts: offset"),
            ("cloudpickle", ["--params", "scale=2"], "declares no params"),
        ]
        for (model, extra, message) in cases {
            let (output, run) = try score(model, extra)
            #expect(run.status != 0)
            #expect(run.stderr.contains(message), "\(model) \(extra): \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }
}
