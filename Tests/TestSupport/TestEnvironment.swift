import Foundation

/// Paths and process helpers shared by the test targets.
///
/// Tests run real things: the project's Python environment (`.venv`, made by
/// `scripts/setup.sh`) writes fixtures with pyarrow and saves models with mlflow, and the
/// end-to-end tests run the built `score-cluster` binary as a process.
public enum TestEnvironment {
    /// The package root: the nearest ancestor of this file that holds `Package.swift`.
    public static let repoRoot: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        fatalError("no Package.swift above \(#filePath)")
    }()

    /// `../shared` next to the checkout: reference material and parquet-testing files.
    public static var sharedDir: URL { repoRoot.deletingLastPathComponent().appendingPathComponent("shared") }

    /// The parquet-testing `data` folder.
    public static var parquetTestingData: URL { sharedDir.appendingPathComponent("parquet-testing/data") }

    /// Whether the parquet-testing files are there; tests that read them are skipped, saying
    /// so, in a checkout without `../shared`.
    public static var hasParquetTesting: Bool {
        FileManager.default.fileExists(atPath: parquetTestingData.appendingPathComponent("alltypes_plain.parquet").path)
    }

    /// The Python interpreter of the project's environment (`SCORE_CLUSTER_PYTHON` overrides).
    public static var python: String {
        if let p = ProcessInfo.processInfo.environment["SCORE_CLUSTER_PYTHON"] { return p }
        return repoRoot.appendingPathComponent(".venv/bin/python").path
    }

    /// A new empty directory under the system temporary directory.
    public static func makeTemporaryDirectory(_ label: String = "score-cluster-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The outcome of a finished process.
    public struct ProcessResult: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments` to completion, capturing its output.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           workingDirectory: URL? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so that neither fills up and blocks the child.
        nonisolated(unsafe) var errData = Data()
        let errReader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        errReader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while errReader.isExecuting || !errReader.isFinished { usleep(1000) }
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a Python snippet with the project's interpreter; throws when it fails.
    @discardableResult
    public static func runPython(_ code: String, _ arguments: [String] = []) throws -> String {
        let result = try run(python, ["-c", code] + arguments)
        guard result.status == 0 else {
            throw TestFailure("python failed (\(result.status)):\n\(result.stderr)")
        }
        return result.stdout
    }
}

/// An error thrown by test helpers, with a message for people.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
