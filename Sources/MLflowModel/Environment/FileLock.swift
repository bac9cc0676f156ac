#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive advisory lock (`flock`) on a file, held until `unlock()` or deinit.
///
/// flock locks belong to an open file description: two processes, and two threads of one
/// process that each open the file, exclude each other. The lock goes away when the holder
/// exits, so a crashed holder never leaves a stale lock behind. The descriptor is opened
/// close-on-exec, so processes started while the lock is held (pip, workers) do not inherit
/// it and cannot keep it held after `unlock()`.
public final class FileLock {
    public let path: String
    private var fd: Int32

    /// Opens (creating it if needed) `path` and takes the lock. When another holder has it,
    /// calls `onWait` once and then blocks until it is released.
    public init(path: String, onWait: () -> Void = {}) throws(PyFuncError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw PyFuncError("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK else {
                let why = String(cString: strerror(errno))
                close(fd)
                throw PyFuncError("cannot lock \(path): \(why)")
            }
            onWait()
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    let why = String(cString: strerror(errno))
                    close(fd)
                    throw PyFuncError("cannot lock \(path): \(why)")
                }
            }
        }
        self.fd = fd
    }

    /// Releases the lock (idempotent).
    public func unlock() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { unlock() }
}
