#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Subprocess
import SystemPackage

/// Starts worker processes on this machine: the same binary, run as
/// `score-cluster worker --connect 127.0.0.1:PORT`, so that local and remote workers run the
/// very same code. Processes are spawned with posix_spawn (swift-subprocess), never by
/// forking a process that may host Python.
final class LocalWorkerLauncher: @unchecked Sendable {
    private let lock = NSLock()
    private var pids: [Int: pid_t] = [:]
    private var exited: Set<Int> = []

    /// Launches worker `index`; `onExit` is called with a description of how it ended.
    func launch(index: Int, executable: String, arguments: [String], onExit: @escaping @Sendable (Int, String) -> Void) {
        Task.detached { [self] in
            do {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments),
                    input: .none, output: .currentStandardError, error: .currentStandardError
                ) { execution in
                    self.record(index: index, pid: execution.processIdentifier.value)
                }
                self.markExited(index)
                onExit(index, Self.describe(result.terminationStatus))
            } catch {
                self.markExited(index)
                onExit(index, "could not be started: \(error)")
            }
        }
    }

    private func record(index: Int, pid: pid_t) { lock.withLock { pids[index] = pid } }
    private func markExited(_ index: Int) { _ = lock.withLock { exited.insert(index) } }

    /// The process id of worker `index`, once started.
    func pid(of index: Int) -> pid_t? { lock.withLock { pids[index] } }

    /// Whether every launched worker has exited.
    var allExited: Bool { lock.withLock { exited.count == pids.count || exited.count >= pids.count && !pids.isEmpty } }

    /// Sends `signal` to every worker still running.
    func signalAll(_ signal: Int32) {
        let running = lock.withLock { pids.filter { !exited.contains($0.key) }.map(\.value) }
        for pid in running { kill(pid, signal) }
    }

    /// Waits up to `seconds` for every worker to exit, then kills the rest.
    func waitForExit(seconds: Double, expected: Int) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if lock.withLock({ exited.count >= expected }) { return }
            usleep(10_000)
        }
        signalAll(SIGKILL)
        let killDeadline = Date().addingTimeInterval(5)
        while Date() < killDeadline, !lock.withLock({ exited.count >= expected }) { usleep(10_000) }
    }

    static func describe(_ status: TerminationStatus) -> String {
        switch status {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "was killed by signal \(signal)\(signal == SIGKILL ? " (SIGKILL: out of memory?)" : "")"
        }
    }
}
