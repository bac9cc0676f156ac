#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A process the test starts, watches and interrupts (SIGINT, SIGKILL) while it runs; its
/// output goes to files so that it never blocks on a full pipe.
public final class BackgroundProcess: @unchecked Sendable {
    private let process = Process()
    private let outURL: URL
    private let errURL: URL

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("process")
        outURL = dir.appendingPathComponent("stdout")
        errURL = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    public var isRunning: Bool { process.isRunning }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits until the process ends (at most `seconds`, then kills it); returns its result.
    @discardableResult
    public func wait(seconds: Double = 300) -> TestEnvironment.ProcessResult {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { signal(SIGKILL) }
        process.waitUntilExit()
        return TestEnvironment.ProcessResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    public var stdout: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Polls `condition` every 50 ms for at most `seconds`; true when it held.
    public static func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// The processes below `root`: its children, theirs, and so on.
    public static func descendants(of root: Int32) -> [Int32] {
        var found: [Int32] = []
        var frontier = [root]
        while let pid = frontier.popLast() {
            let children = children(of: pid)
            found += children
            frontier += children
        }
        return found
    }

    /// The processes whose parent is `parent`.
    public static func children(of parent: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }
}
