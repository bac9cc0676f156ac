#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Subprocess
import SystemPackage
import Wire

/// Starts worker processes on this machine: the same binary, run as
/// `score-cluster worker --connect 127.0.0.1:PORT`, so that local and remote workers run the
/// very same code. Processes are spawned with posix_spawn (swift-subprocess), never by
/// forking the coordinator, which runs many threads. A launch may stand for several workers
/// (`worker --processes N`): that process forks the others itself, once it has checked it safely can.
final class LocalWorkerLauncher: @unchecked Sendable {
    private let lock = NSLock()
    private var pids: [Int: pid_t] = [:]
    /// Worker processes each launch stands for (`worker --processes`), when more than one.
    private var groups: [Int: Int] = [:]
    private var exited: Set<Int> = []
    private var unexpectedExits: [(description: String, exit: WorkerExit?)] = []
    private var stopping = false

    /// Launches worker `index`; `onExit` is called with how it ended (nil: it could not be
    /// started) and a description of that.
    ///
    /// - Parameter processes: Workers the process stands for (`worker --processes`): it forks
    ///   (or spawns) the others, in its own process group, and exits after they have.
    /// - Parameter detachedLog: For a worker that outlives this process (`--keep-workers`): it
    ///   gets a session of its own (a Ctrl-C in this terminal does not reach it) and writes its
    ///   messages to this descriptor instead of this process's standard error.
    func launch(index: Int, processes: Int = 1, executable: String, arguments: [String], detachedLog: Int32? = nil,
                onExit: @escaping @Sendable (Int, WorkerExit?, String) -> Void) {
        if processes > 1 { lock.withLock { groups[index] = processes } }
        // Copies of the log descriptor, made now and closed once the process is spawned, so
        // that the caller may close its own at once (the spawn happens later, on another thread).
        let logs = detachedLog.map { (dup($0), dup($0)) }
        Task.detached { [self] in
            do {
                var platform = PlatformOptions()
                // Never in this terminal's process group: a Ctrl-C reaches the coordinator alone,
                // which finishes the partitions under way and then stops its workers in order.
                if logs != nil { platform.createSession = true } else { platform.processGroupID = 0 }
                let output: FileDescriptorOutput = logs.map { .fileDescriptor(FileDescriptor(rawValue: $0.0), closeAfterSpawningProcess: true) }
                    ?? .fileDescriptor(.standardError, closeAfterSpawningProcess: false)
                let error: FileDescriptorOutput = logs.map { .fileDescriptor(FileDescriptor(rawValue: $0.1), closeAfterSpawningProcess: true) }
                    ?? .fileDescriptor(.standardError, closeAfterSpawningProcess: false)
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments), platformOptions: platform,
                    input: .none, output: output, error: error
                ) { execution in
                    self.record(index: index, pid: execution.processIdentifier.value)
                }
                let exit = Self.workerExit(result.terminationStatus)
                self.markExited(index, exit: exit, how: exit.description)
                onExit(index, exit, exit.description)
            } catch {
                self.markExited(index, exit: nil, how: "could not be started: \(error)")
                onExit(index, nil, "could not be started: \(error)")
            }
        }
    }

    private func record(index: Int, pid: pid_t) { lock.withLock { pids[index] = pid } }
    private func markExited(_ index: Int, exit: WorkerExit?, how: String) {
        lock.withLock {
            exited.insert(index)
            if exit?.verdict != .clean, !stopping {
                unexpectedExits.append(("worker \(index) (pid \(pids[index].map(String.init) ?? "?")) \(how)", exit))
            }
        }
    }

    /// Workers that ended on their own, abnormally, before `stopAll`/`signalAll` was called:
    /// a description of each, and how it ended (nil: it could not be started).
    var abnormalExits: [(description: String, exit: WorkerExit?)] { lock.withLock { unexpectedExits } }

    /// Worker processes launch `index` stands for.
    func processes(of index: Int) -> Int { lock.withLock { groups[index] ?? 1 } }

    /// The process id of worker `index`, once started.
    func pid(of index: Int) -> pid_t? { lock.withLock { pids[index] } }

    /// The process ids of workers `indices`, waiting up to `seconds` for them to be started;
    /// those not started by then are left out.
    func pids(of indices: Range<Int>, waiting seconds: Double) -> [pid_t] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, !lock.withLock({ indices.allSatisfy { pids[$0] != nil || exited.contains($0) } }) {
            usleep(5_000)
        }
        return lock.withLock { indices.compactMap { pids[$0] } }
    }

    /// Sends `signal` to every worker still running, but those in `sparing`. A launch of several
    /// processes gets it as a process group (its siblings may outlive it), unless it is spared.
    func signalAll(_ signal: Int32, sparing: Set<pid_t> = []) {
        let (running, leaders) = lock.withLock {
            stopping = true
            return (pids.filter { !exited.contains($0.key) && groups[$0.key] == nil }.map(\.value),
                    pids.filter { groups[$0.key] != nil }.map(\.value))
        }
        for pid in running where !sparing.contains(pid) { kill(pid, signal) }
        // The process started each group and leads it (its own group or session, see `launch`).
        for pid in leaders where !sparing.contains(pid) { kill(-pid, signal) }
    }

    /// Waits up to `seconds` for every worker to exit, killing none (lets dying workers be counted).
    func settle(seconds: Double, expected: Int) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, !lock.withLock({ exited.count >= expected }) { usleep(10_000) }
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

    static func workerExit(_ status: TerminationStatus) -> WorkerExit {
        switch status {
        case .exited(let code): .exited(code)
        case .signaled(let signal): .signaled(signal)
        }
    }
}
