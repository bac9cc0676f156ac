#if canImport(Glibc)
import Glibc
#endif
import Coordinator
import Foundation

/// Shows a running job's progress: a line redrawn in place when standard error is a terminal,
/// otherwise a plain line every 10 seconds; nothing with `--quiet`. Log messages are printed
/// above the progress line.
final class ProgressDisplay: @unchecked Sendable {
    private let quiet: Bool
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private var lineShown = false
    private var lastPlain = Date()

    /// Writes the periodic plain progress line (not on a terminal); with JSON logs, a log record.
    private let plainLine: @Sendable (String) -> Void

    init(quiet: Bool, plainLine: @escaping @Sendable (String) -> Void = { Console.error("progress: " + $0) }) {
        self.quiet = quiet
        self.plainLine = plainLine
    }

    /// The display of the job under way, which log lines go above.
    nonisolated(unsafe) private static var current: ProgressDisplay?
    private static let currentLock = NSLock()

    /// Makes this the display log lines go above (until `end`).
    func activate() { Self.currentLock.withLock { Self.current = self } }

    /// Writes a log line to standard error, above the progress line if one is shown.
    static func writeLogLine(_ line: String) {
        if let display = currentLock.withLock({ current }) { display.log(line) } else { Console.error(line) }
    }

    func log(_ message: String) {
        lock.withLock {
            clearLine()
            Console.error(message)
        }
    }

    func show(_ progress: JobProgress) {
        guard !quiet else { return }
        lock.withLock {
            if isTerminal {
                Console.write("\r\u{1B}[K" + Self.describe(progress))
                lineShown = true
            } else if Date().timeIntervalSince(lastPlain) >= 10 {
                lastPlain = Date()
                plainLine(Self.describe(progress))
            }
        }
    }

    /// Removes the progress line before the summary.
    func end() {
        Self.currentLock.withLock { if Self.current === self { Self.current = nil } }
        lock.withLock { clearLine() }
    }

    private func clearLine() {
        if lineShown {
            Console.write("\r\u{1B}[K")
            lineShown = false
        }
    }

    static func describe(_ p: JobProgress) -> String {
        let percent = p.rowsTotal > 0 ? 100 * Double(p.rowsDone) / Double(p.rowsTotal) : 100
        var text = "\(p.rowsDone)/\(p.rowsTotal) rows (\(String(format: "%.1f", percent))%)"
            + ", \(String(format: "%.0f", p.rowsPerSecond)) rows/s"
        if let left = p.secondsLeft { text += ", ETA \(duration(left))" }
        text += ", \(p.workersAlive) worker(s)"
        if p.retries > 0 { text += ", \(p.retries) retried" }
        if p.quarantined > 0 { text += ", \(p.quarantined) partition(s) failed" }
        if p.stopping { text += ", stopping" }
        return text
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}
