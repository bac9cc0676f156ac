#if canImport(Glibc)
import Glibc
#endif

/// What the `Acceptor` does when `accept` fails: a plain value with time as an input.
///
/// Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM) the listening socket
/// stays readable, so retrying at once would spin, and giving up would leave every later worker
/// out for good: pause (50 ms, doubling up to 1 s) and go on. An aborted connection or a signal
/// is simply retried. Warnings are rate-limited, so a long shortage gives a line every 10 s.
struct AcceptBackoff: Sendable {
    static let firstPause: Duration = .milliseconds(50)
    static let longestPause: Duration = .seconds(1)
    static let warningInterval: Duration = .seconds(10)

    /// What to do after a failed `accept`.
    enum Step: Sendable, Equatable {
        /// Accept again at once.
        case retry
        /// Wait this long, then accept again; log `warning` when there is one.
        case pause(Duration, warning: String?)
    }

    /// The pause after the next failure that is not retried at once.
    private(set) var nextPause = AcceptBackoff.firstPause
    /// Failures since the last success (or since the process started).
    private(set) var failures = 0
    private var lastWarning: ContinuousClock.Instant?
    private var unlogged = 0

    /// `accept` failed with `errno` `code` (`message` says how) at `now`.
    mutating func failed(code: Int32, message: String, at now: ContinuousClock.Instant) -> Step {
        if Self.isTransient(code) { return .retry }
        failures += 1
        let pause = nextPause
        nextPause = min(Self.longestPause, nextPause * 2)
        if let last = lastWarning, last.duration(to: now) < Self.warningInterval {
            unlogged += 1
            return .pause(pause, warning: nil)
        }
        var warning = "cannot accept connections: \(message)"
        if Self.isShortage(code) {
            warning += " (out of descriptors or memory: raise `ulimit -n`, or fewer connections)"
        }
        warning += "; retrying in \(Self.text(pause)), still listening"
        if unlogged > 0 { warning += " (\(unlogged) more failures since the last warning)" }
        lastWarning = now
        unlogged = 0
        return .pause(pause, warning: warning)
    }

    /// `accept` succeeded: pauses start short again. Returns a line to log when it had been failing.
    mutating func succeeded() -> String? {
        defer { failures = 0; nextPause = Self.firstPause; unlogged = 0; lastWarning = nil }
        return failures > 0 ? "accepting connections again after \(failures) failed attempts" : nil
    }

    /// Failures that concern one connection, not the listener (accept(2): "treat as EAGAIN").
    static func isTransient(_ code: Int32) -> Bool {
        [EINTR, EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN,
         ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH].contains(code)
    }

    /// Running out of descriptors or memory: it passes once connections end.
    static func isShortage(_ code: Int32) -> Bool {
        [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(code)
    }

    private static func text(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds >= 1000 && milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}
