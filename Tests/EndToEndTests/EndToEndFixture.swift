import Foundation
import TestSupport

/// The data, models and binary the end-to-end tests share; built once per test run.
struct EndToEndFixture: Sendable {
    let root: URL
    /// 3 part files written by pyarrow: id, f0 (nullable), f1..f3, name, flag, small.
    let dataset: URL
    /// `mlflow.sklearn.save_model(LinearRegression)` on 3 features.
    let linearModel: URL
    /// A seed-format model on 4 features whose loader lives in `code/` and needs no MLflow.
    let seedModel: URL

    static let shared: Result<EndToEndFixture, Error> = Result { try EndToEndFixture() }

    private init() throws {
        root = try TestEnvironment.makeTemporaryDirectory("e2e")
        dataset = root.appendingPathComponent("input")
        let fixtures = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures")
        let scripts = TestEnvironment.repoRoot.appendingPathComponent("scripts")
        try Self.python([fixtures.appendingPathComponent("make_e2e_dataset.py").path, dataset.path])
        try Self.python([scripts.appendingPathComponent("make_models.py").path, "--out", root.appendingPathComponent("m3").path, "--features", "3"])
        try Self.python([scripts.appendingPathComponent("make_models.py").path, "--out", root.appendingPathComponent("m4").path, "--features", "4"])
        linearModel = root.appendingPathComponent("m3/sklearn_linear")
        seedModel = root.appendingPathComponent("m4/seed_linear")
    }

    static func python(_ arguments: [String]) throws {
        let result = try TestEnvironment.run(TestEnvironment.python, arguments)
        guard result.status == 0 else { throw TestFailure("python \(arguments.joined(separator: " ")) failed:\n\(result.stderr)") }
    }

    /// The `score-cluster` binary built next to the tests (`SCORE_CLUSTER_BIN` overrides).
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["SCORE_CLUSTER_BIN"] { return path }
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("score-cluster")
        if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests.path }
        return TestEnvironment.repoRoot.appendingPathComponent(".build/debug/score-cluster").path
    }

    /// Runs `score-cluster` with `arguments`.
    static func scoreCluster(_ arguments: [String]) throws -> TestEnvironment.ProcessResult {
        try TestEnvironment.run(binary, arguments, environment: ["VIRTUAL_ENV": TestEnvironment.repoRoot.appendingPathComponent(".venv").path])
    }

    /// A new seed-format model whose `code/<module>.py` is `source` (it defines load_pyfunc).
    func makeSeedModel(_ source: String, mlmodel: String? = nil) throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("seed-model")
        let module = "test_model_" + dir.lastPathComponent.replacingOccurrences(of: "-", with: "_")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("code"), withIntermediateDirectories: true)
        try (mlmodel ?? "flavors:\n  python_function:\n    loader_module: \(module)\n    code: code\n")
            .write(to: dir.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        try source.write(to: dir.appendingPathComponent("code/\(module).py"), atomically: true, encoding: .utf8)
        return dir
    }

    /// A token file `name` in `directory` holding `secret`, with the mode score-cluster requires (0600).
    static func makeTokenFile(in directory: URL, _ secret: String, name: String = "token") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try secret.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// A free loopback port below the ephemeral range (`TestServices.freePort`).
    static func randomPort() -> Int { (try? TestServices.freePort()) ?? 20_000 + Int.random(in: 0..<10_000) }

    /// The project's Python environment, for workers' `--python-env`.
    static var venv: String { TestEnvironment.repoRoot.appendingPathComponent(".venv").path }

    /// A fresh output path inside the fixture's directory (not created).
    func outputPath(_ label: String) -> String {
        root.appendingPathComponent("out-\(label)-\(UUID().uuidString.prefix(6))").path
    }
}
