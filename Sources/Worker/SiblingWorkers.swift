#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging

/// The other processes of a worker started with `--processes N`, which it starts for each job
/// once its model is loaded (forked, or spawned when forking is unsafe) and waits for when the
/// job ends. Each is a worker of its own towards the coordinator.
///
/// Owned by the process's Python thread only.
final class SiblingWorkers {
    /// How a worker process was started.
    enum Origin: String {
        case forked, spawned
    }

    private var running: [(pid: pid_t, origin: Origin)] = []

    var isEmpty: Bool { running.isEmpty }

    /// Records a process forked from this one.
    func add(forked pid: pid_t) { running.append((pid, .forked)) }

    /// In a forked child: the siblings it inherited the list of are not its own to wait for.
    func forgetInForkedChild() { running = [] }

    /// Starts this executable with `arguments` (a plain worker joining the same coordinator);
    /// nil and the error's text when it cannot be started.
    func spawn(arguments: [String]) -> String? {
        guard let executable = Self.executablePath() else { return "cannot find this executable (/proc/self/exe)" }
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let status = posix_spawn(&pid, executable, nil, nil, argv, environ)
        guard status == 0 else { return "cannot start \(executable): \(String(cString: strerror(status)))" }
        running.append((pid, .spawned))
        return nil
    }

    /// Waits for every sibling to end (nil `deadline`: for as long as they run), then kills those
    /// still running; logs how each ended when that was not cleanly.
    func waitForAll(until deadline: Date?, logger: Logger) {
        while !running.isEmpty {
            running.removeAll { sibling in
                var status: Int32 = 0
                let ended = waitpid(sibling.pid, &status, deadline == nil ? 0 : WNOHANG)
                guard ended == sibling.pid || (ended < 0 && errno == ECHILD) else { return false }
                if ended == sibling.pid { Self.log(sibling, status: status, logger: logger) }
                return true
            }
            guard !running.isEmpty, let deadline else { continue }
            if Date() >= deadline {
                for sibling in running {
                    logger.warning("worker pid \(sibling.pid) (\(sibling.origin.rawValue) by this one) is still running after the job; killing it")
                    kill(sibling.pid, SIGKILL)
                }
                for sibling in running { var status: Int32 = 0; waitpid(sibling.pid, &status, 0) }
                running = []
                return
            }
            usleep(20_000)
        }
    }

    private static func log(_ sibling: (pid: pid_t, origin: Origin), status: Int32, logger: Logger) {
        let signal = status & 0x7f
        let code = (status >> 8) & 0xff
        if signal != 0 {
            logger.warning("worker pid \(sibling.pid) (\(sibling.origin.rawValue) by this one) was killed by signal \(signal)")
        } else if code != 0 {
            logger.debug("worker pid \(sibling.pid) (\(sibling.origin.rawValue) by this one) exited with status \(code)")
        }
    }

    /// This process's executable, for spawning siblings.
    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
