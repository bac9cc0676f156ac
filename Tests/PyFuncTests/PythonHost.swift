import Foundation
import MLflowModel
import PyFunc
import TestSupport

/// The one embedded interpreter of the test process, on its own thread.
///
/// An interpreter starts once per process and is used from the thread that started it;
/// tests run on any thread, so they hand their work to this one and wait.
final class PythonHost: @unchecked Sendable {
    static let shared = PythonHost()

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var runtime: PythonRuntime?
    private var startError: String?

    private init() {
        let thread = Thread { [self] in
            do {
                let environment = try PythonEnvironment(path: TestEnvironment.repoRoot.appendingPathComponent(".venv").path)
                let runtime = try PythonRuntime.start(environment: environment)
                condition.withLock { self.runtime = runtime; condition.broadcast() }
            } catch {
                condition.withLock { startError = "\(error)"; condition.broadcast() }
                return
            }
            while true {
                let job: () -> Void = condition.withLock {
                    while jobs.isEmpty { condition.wait() }
                    return jobs.removeFirst()
                }
                job()
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Runs `body` on the Python thread and returns its result.
    func run<T>(_ body: @escaping (PythonRuntime) throws -> T) throws -> T {
        let python: PythonRuntime = try condition.withLock {
            while self.runtime == nil && self.startError == nil { condition.wait() }
            if let startError = self.startError { throw TestFailure("the embedded Python did not start: \(startError)") }
            return self.runtime!
        }
        nonisolated(unsafe) var result: Result<T, Error>?
        let done = NSCondition()
        condition.withLock {
            jobs.append {
                let r = Result { try body(python) }
                done.withLock { result = r; done.signal() }
            }
            condition.signal()
        }
        return try done.withLock {
            while result == nil { done.wait() }
            return try result!.get()
        }
    }
}

/// Writes a seed-style model (no MLflow needed) whose predict evaluates `expression` with
/// `np`, `pd`, `df` and `n` (the batch's row count) in scope.
func makeExpressionModel(_ expression: String, loader: String = "load_pyfunc") throws -> URL {
    let dir = try TestEnvironment.makeTemporaryDirectory("expr-model")
    // A module name of its own: the interpreter caches imported modules by name.
    let module = "expression_model_" + dir.lastPathComponent.replacingOccurrences(of: "-", with: "_")
    let fm = FileManager.default
    try fm.createDirectory(at: dir.appendingPathComponent("code"), withIntermediateDirectories: true)
    try fm.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
    try """
        flavors:
          python_function:
            loader_module: \(module)
            code: code
            data: data
            env: conda.yaml
        """.write(to: dir.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
    try """
        import numpy as np
        import pandas as pd

        class ExpressionModel:
            def __init__(self, expression):
                self.expression = expression

            def predict(self, df):
                return eval(self.expression, {"np": np, "pd": pd, "df": df, "n": len(df)})

        def \(loader)(path):
            with open(path + "/expression.txt") as f:
                return ExpressionModel(f.read())
        """.write(to: dir.appendingPathComponent("code/\(module).py"), atomically: true, encoding: .utf8)
    try expression.write(to: dir.appendingPathComponent("data/expression.txt"), atomically: true, encoding: .utf8)
    return dir
}
