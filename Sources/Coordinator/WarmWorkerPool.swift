#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Digest
import Foundation
import Wire
import WorkerLaunch

/// Local workers kept running between `score-cluster run` jobs (`run --keep-workers SECONDS`),
/// with their interpreter started and the last model loaded, so that the next job on this
/// machine skips both: seconds for an MLflow model, whose imports alone take 2-4 s per worker.
///
/// A pool is named by what its workers were started with (the executable, the Python
/// environment, the number of workers and their options). Its files live under
/// `~/.cache/score-cluster/workers/` (or `$XDG_CACHE_HOME`): `NAME.json` records the loopback
/// port the workers reconnect to and the records its workers hold (`NAME.worker-ID.record`, a
/// `KeptWorkerRecord` each: a worker is there while its record is locked), `NAME.token` the secret they prove
/// they hold (mode 0600, so no other user's process can take their place), `NAME.log` their
/// messages, and `NAME.lock` is held by the job using the pool. A second job started meanwhile
/// does not share it: it starts its own workers, as without `--keep-workers`.
///
/// Workers go away by themselves after `--keep-workers` seconds without a job
/// (`worker --idle-timeout`), or at once with `score-cluster stop-workers`.
public final class WarmWorkerPool {
    /// What a pool's state file records.
    struct State: Codable, Equatable {
        var port: Int
        /// The workers' process ids, for people (and `stop-workers`' message); what counts is `records`.
        var pids: [Int32]
        /// The workers' record files.
        var records: [String]
    }

    /// A kept worker that is still there: its record and the record's file.
    struct LiveWorker: Equatable {
        var record: KeptWorkerRecord
        var path: String
        var pid: Int32 { record.pid }
        /// Workers it stands for (`worker --processes`).
        var processes: Int { record.processes }
    }

    let directory: String
    let name: String
    private var lockFD: Int32

    var statePath: String { "\(directory)/\(name).json" }
    var tokenPath: String { "\(directory)/\(name).token" }
    var logPath: String { "\(directory)/\(name).log" }

    /// Where pools keep their files.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/score-cluster/workers" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/score-cluster/workers"
    }

    /// The pool's name for `workers` workers started as `launch` (its identity: the settings
    /// that change what a worker does) by this build of the executable (its size and change
    /// time: workers of an earlier build at the same path, which may speak another protocol, are not reused).
    static func name(launch: WorkerLaunch, workers: Int) -> String {
        var info = stat()
        let build = stat(launch.executable, &info) == 0 ? "\(info.st_size)-\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)" : "?"
        let identity = launch.identity + ["--workers", "\(workers)", "build", build]
        return "pool-" + SHA256.hex(Array(identity.joined(separator: "\u{0}").utf8)).prefix(16)
    }

    /// A new record file for a worker about to start.
    func newRecordPath() -> String {
        "\(directory)/\(name).worker-\(UUID().uuidString.lowercased().prefix(12)).record"
    }

    /// Whether `path` is one of this pool's record files (so that one may be removed).
    func isOwnRecord(_ path: String) -> Bool {
        let file = URL(fileURLWithPath: path).lastPathComponent
        return URL(fileURLWithPath: path).deletingLastPathComponent().path == directory
            && file.hasPrefix("\(name).worker-") && file.hasSuffix(".record") && !file.contains("/")
    }

    /// Those of `state`'s workers still running (`liveWorkers`); the records of those that ended
    /// are removed, only where they are this pool's own files.
    func liveWorkers(_ state: State) -> [LiveWorker] {
        let live = Self.heldRecords(state)
        for path in state.records where isOwnRecord(path) && !live.contains(where: { $0.path == path }) {
            unlink(path)
        }
        return live
    }

    /// Takes pool `name`'s lock; nil when another job holds it.
    /// - Throws: `JobError` when the directory or the lock file cannot be made.
    static func acquire(name: String, directory: String) throws(JobError) -> WarmWorkerPool? {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw JobError("cannot create \(directory) for --keep-workers: \(error.localizedDescription)")
        }
        // The token lies there: the directory must be this user's alone.
        var info = stat()
        guard stat(directory, &info) == 0, info.st_uid == geteuid(),
              info.st_mode & 0o077 == 0 || chmod(directory, 0o700) == 0 else {
            throw JobError("\(directory) must belong to you and be private (mode 0700) for --keep-workers")
        }
        let fd = open("\(directory)/\(name).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw JobError("cannot open \(directory)/\(name).lock for --keep-workers: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return WarmWorkerPool(directory: directory, name: name, lockFD: fd)
    }

    private init(directory: String, name: String, lockFD: Int32) {
        self.directory = directory
        self.name = name
        self.lockFD = lockFD
    }

    deinit { release() }

    /// Lets the next job use the pool.
    func release() {
        guard lockFD >= 0 else { return }
        flock(lockFD, LOCK_UN)
        close(lockFD)
        lockFD = -1
    }

    /// The recorded state, when there is one that can be read.
    func load() -> State? {
        guard let data = FileManager.default.contents(atPath: statePath) else { return nil }
        return try? JSONDecoder().decode(State.self, from: data)
    }

    /// Records the pool's port and workers.
    func save(_ state: State) throws(JobError) {
        do {
            try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: statePath), options: .atomic)
        } catch {
            throw JobError("cannot record the kept workers in \(statePath): \(error.localizedDescription)")
        }
    }

    /// The pool's token, made (32 random bytes, hex, mode 0600) the first time.
    func token() throws(JobError) -> ClusterToken {
        if FileManager.default.fileExists(atPath: tokenPath), let token = try? ClusterToken.read(file: tokenPath) {
            return token
        }
        var random = SystemRandomNumberGenerator()
        let text = Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
        let fd = open(tokenPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0, fchmod(fd, 0o600) == 0, write(fd, text, text.utf8.count) == text.utf8.count else {
            if fd >= 0 { close(fd) }
            throw JobError("cannot write the kept workers' token \(tokenPath): \(String(cString: strerror(errno)))")
        }
        close(fd)
        do { return try ClusterToken.read(file: tokenPath) } catch {
            throw JobError("cannot read back the kept workers' token: \(error)")
        }
    }

    /// The log the pool's workers write to (appended to, mode 0600).
    func openLog() throws(JobError) -> Int32 {
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JobError("cannot open \(logPath): \(String(cString: strerror(errno)))") }
        return fd
    }

    /// Those of `state`'s workers still running: their records are held and name the port.
    private static func heldRecords(_ state: State) -> [LiveWorker] {
        state.records.compactMap { path in
            KeptWorkerRecord.live(at: path).flatMap { $0.port == state.port ? LiveWorker(record: $0, path: path) : nil }
        }
    }

    /// Stops the workers of every pool in `directory` that no job is using (SIGTERM) and
    /// removes their state; returns one line per pool.
    public static func stopAll(directory: String = defaultDirectory()) -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("pool-") && $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
        return names.map { name in
            guard let pool = try? acquire(name: name, directory: directory) else {
                return "\(name): a job is using these workers; run stop-workers again once it ends"
            }
            defer { pool.release() }
            let live = pool.load().map(pool.liveWorkers) ?? []
            for worker in live { kill(worker.pid, SIGTERM) }
            try? FileManager.default.removeItem(atPath: pool.statePath)
            return "\(name): stopped \(live.reduce(0) { $0 + $1.processes }) worker(s)\(live.isEmpty ? "" : " (pid \(live.map { String($0.pid) }.joined(separator: ", ")))")"
        }
    }

    /// Tells the job when a kept worker it counts on ends before joining (`JobEvent.keptWorkerGone`),
    /// checking every 100 ms until stopped.
    final class Watch: @unchecked Sendable {
        private let lock = NSLock()
        private var stopped = false

        init(workers: [LiveWorker], gone: @escaping @Sendable (_ pid: Int32, _ processes: Int) -> Void) {
            let thread = Thread { [self] in
                var watched = Dictionary(uniqueKeysWithValues: workers.map { ($0.path, $0) })
                while !lock.withLock({ stopped }) && !watched.isEmpty {
                    for (path, worker) in watched where KeptWorkerRecord.live(at: path) == nil {
                        watched[path] = nil
                        gone(worker.pid, worker.processes)
                    }
                    usleep(100_000)
                }
            }
            thread.stackSize = 1 << 18
            thread.start()
        }

        func stop() { lock.withLock { stopped = true } }
    }
}
