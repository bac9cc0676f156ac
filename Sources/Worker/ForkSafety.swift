import Foundation

/// Whether this process may fork copies of itself that go on running Swift and Python.
///
/// A fork copies only the calling thread: a lock another thread held at that moment (in
/// malloc, in the Swift runtime, in an OpenMP or BLAS pool, in the interpreter) stays held for
/// ever in the child. So a worker forks only when it is down to its one thread; a model that
/// started threads while it loaded (a thread pool, a background client) makes it spawn instead.
enum ForkSafety {
    /// Threads (by the name the kernel shows, at most 15 characters) that hold no lock a forked
    /// worker could need: polars' spill-file cleaner, which sleeps and removes the files of
    /// out-of-core queries. It starts when polars is imported, and MLflow imports polars when it
    /// is installed, so without it no such environment could fork. (The jemalloc background
    /// threads pyarrow and polars would start too are turned off, `PythonRuntime.start`.)
    static let idleThreadNames: Set<String> = ["polars-ooc-clea"]

    /// Why forking now would not be safe, or nil when it is.
    ///
    /// Threads just told to stop take a moment to leave the kernel's list: waits up to
    /// `settleSeconds` for the count to come down to one.
    static func reasonNotToFork(settleSeconds: Double = 1) -> String? {
        let deadline = Date().addingTimeInterval(settleSeconds)
        while true {
            guard let threads = threadNames() else { return "cannot list this process's threads (/proc/self/task)" }
            let others = threads.dropFirst().filter { !idleThreadNames.contains($0.name) }
            if others.isEmpty { return nil }
            if Date() >= deadline {
                let names = others.map { "\($0.name) (\($0.id))" }.joined(separator: ", ")
                return "after loading the model the process runs \(others.count) thread(s) besides the worker's own (\(names)); "
                    + "a model or library that starts threads at load (OpenMP or BLAS pools, a client) makes forking unsafe"
            }
            usleep(2_000)
        }
    }

    /// Gives the calling thread the name the kernel shows (at most 15 bytes), so that a list of
    /// threads says whose each is. (glibc's `pthread_setname_np` does the same write; Swift does not see it.)
    static func nameCallingThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Array(name.utf8.prefix(15)).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// This process's threads (`/proc/self/task`) by name (`comm`) and id, this one first; nil
    /// when they cannot be read.
    static func threadNames() -> [(name: String, id: String)]? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return nil }
        // "/proc/thread-self" links to "PID/task/TID" of the calling thread.
        let me = ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? "")
            .split(separator: "/").last.map(String.init) ?? ""
        func name(_ task: String) -> (name: String, id: String) {
            let comm = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? "?"
            return (comm.trimmingCharacters(in: .whitespacesAndNewlines), task)
        }
        return tasks.filter { $0 == me }.map(name) + tasks.filter { $0 != me }.sorted().map(name)
    }
}
