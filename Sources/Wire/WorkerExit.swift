#if canImport(Glibc)
import Glibc
#endif

/// How a worker process ended, as its parent sees it: the contract between
/// `score-cluster worker` and whoever started it (the coordinator of `run`, a cluster manager).
///
/// A worker over its memory limit stops itself with `memoryLimitStatus`; one the kernel's
/// out-of-memory killer ends dies of SIGKILL, which nothing in score-cluster sends to a worker
/// during a job. Both are told apart from a crash of the model (another status, another signal).
public enum WorkerExit: Sendable, Equatable, CustomStringConvertible {
    /// The process exited with this status.
    case exited(Int32)
    /// The process was killed by this signal.
    case signaled(Int32)

    /// The exit status of a worker that stopped itself because its resident memory went over
    /// its limit (`--worker-memory`, `worker --memory-limit`). Chosen apart from 0 (done),
    /// 1 (failed), 3 (partial), 64 (usage) and the statuses a shell gives to signals (128 + n).
    public static let memoryLimitStatus: Int32 = 12

    /// What the end says about the worker.
    public enum Verdict: Sendable, Equatable {
        /// Exited with status 0.
        case clean
        /// Stopped itself over its memory limit.
        case overMemoryLimit
        /// Killed by SIGKILL: most likely the kernel's out-of-memory killer.
        case probablyOutOfMemory
        /// Anything else: the model or the interpreter crashed, or the worker failed.
        case failed
    }

    public var verdict: Verdict {
        switch self {
        case .exited(0): .clean
        case .exited(Self.memoryLimitStatus): .overMemoryLimit
        case .exited: .failed
        case .signaled(SIGKILL): .probablyOutOfMemory
        case .signaled: .failed
        }
    }

    /// Whether the worker ran out of memory, by its own limit or by the kernel's.
    public var isOutOfMemory: Bool { verdict == .overMemoryLimit || verdict == .probablyOutOfMemory }

    /// A phrase that follows "worker ... ", e.g. "was killed by SIGKILL, probably out of memory ...".
    public var description: String {
        switch (self, verdict) {
        case (.exited(let status), .overMemoryLimit):
            "stopped itself over its memory limit (exit status \(status); --worker-memory)"
        case (.signaled, .probablyOutOfMemory):
            "was probably out of memory (killed by SIGKILL, as the kernel's out-of-memory killer does; see dmesg)"
        case (.exited(let status), _):
            "exited with status \(status)"
        case (.signaled(let signal), _):
            "was killed by signal \(signal)\(Self.signalName(signal).map { " (\($0))" } ?? "")"
        }
    }

    /// The usual name of the signals a crashing worker dies of.
    static func signalName(_ signal: Int32) -> String? {
        switch signal {
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGILL: "SIGILL"
        case SIGFPE: "SIGFPE"
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        default: nil
        }
    }
}
