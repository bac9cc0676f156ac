#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The job that holds an output, recorded in its lock so that a job refused can name it.
struct OutputLockHolder: Codable, Equatable, Sendable, CustomStringConvertible {
    var pid: Int32
    var host: String
    /// ISO 8601, UTC.
    var started: String

    /// This process, now.
    static func current(started: Date = Date()) -> OutputLockHolder {
        let formatter = ISO8601DateFormatter()
        return OutputLockHolder(pid: getpid(), host: ProcessInfo.processInfo.hostName, started: formatter.string(from: started))
    }

    var description: String { "pid \(pid) on \(host), started \(started)" }
}

/// An exclusive claim on a job's output for the job's whole life: a second job on the same
/// output, in any mode, is refused at once, naming the one that holds it.
///
/// A local output is claimed with `flock` on `_lock` inside it (`LocalOutputLock`); an output
/// in object storage will claim it with a conditional write of its own object instead.
protocol OutputLock: AnyObject {
    /// The job holding the output now, without claiming it; nil when none does.
    func currentHolder() -> OutputLockHolder?
    /// Claims the output for `holder`, or throws naming the job that holds it.
    func acquire(as holder: OutputLockHolder) throws(JobError)
    /// Gives the output up (idempotent). The claim also ends when the process does, however it ends.
    func release()
}

/// `OutputLock` for a directory on a local (or any POSIX) file system: `flock` on
/// `DIRECTORY/_lock`, which holds the holder's pid, host and start time. The kernel drops the
/// lock when the process ends, so a killed job never leaves its output locked.
final class LocalOutputLock: OutputLock, @unchecked Sendable {
    let directory: String
    let path: String
    private var fd: Int32 = -1
    private let lock = NSLock()

    init(directory: String) {
        self.directory = directory
        self.path = directory + "/" + OutputLocationRules.lockName
    }

    deinit { release() }

    func currentHolder() -> OutputLockHolder? {
        let probe = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard probe >= 0 else { return nil }
        defer { close(probe) }
        if flock(probe, LOCK_SH | LOCK_NB) == 0 {
            flock(probe, LOCK_UN)
            return nil
        }
        return Self.readHolder(probe)
    }

    func acquire(as holder: OutputLockHolder) throws(JobError) {
        // A job releasing its lock unlinks the file: a descriptor opened just before that may
        // be locked but no longer be the file at `path`. Check, and try again on the new one.
        for _ in 0..<10 {
            let candidate = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard candidate >= 0 else {
                throw JobError("cannot create the lock \(path) of the output: \(String(cString: strerror(errno)))")
            }
            guard flock(candidate, LOCK_EX | LOCK_NB) == 0 else {
                let busy = errno == EWOULDBLOCK
                let reason = String(cString: strerror(errno))
                let other = Self.readHolder(candidate)
                close(candidate)
                if busy { throw Self.inUse(directory, by: other) }
                throw JobError("cannot lock the output '\(directory)' (\(path)): \(reason)")
            }
            var opened = stat(), current = stat()
            guard fstat(candidate, &opened) == 0, lstat(path, &current) == 0,
                  opened.st_ino == current.st_ino, opened.st_dev == current.st_dev else {
                close(candidate)
                continue
            }
            var text = Array(((try? JSONEncoder().encode(holder)) ?? Data()))
            text.append(UInt8(ascii: "\n"))
            _ = ftruncate(candidate, 0)
            _ = text.withUnsafeBytes { pwrite(candidate, $0.baseAddress, $0.count, 0) }
            lock.withLock { fd = candidate }
            return
        }
        throw JobError("cannot lock the output '\(directory)': \(path) keeps being replaced; is another job starting on it?")
    }

    func release() {
        lock.withLock {
            guard fd >= 0 else { return }
            // Unlinked while still held: a job that opens `_lock` now creates a new one.
            unlink(path)
            close(fd)
            fd = -1
        }
    }

    /// The refusal naming the job that holds the output.
    static func inUse(_ directory: String, by holder: OutputLockHolder?) -> JobError {
        JobError("the output '\(directory)' is in use by another job (\(holder?.description ?? "its pid is not recorded yet")); "
            + "wait for it to end, stop it, or choose another --output")
    }

    private static func readHolder(_ fd: Int32) -> OutputLockHolder? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return try? JSONDecoder().decode(OutputLockHolder.self, from: Data(buffer[0..<n]))
    }
}
