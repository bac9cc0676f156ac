#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import MLflowModel
import PyFunc
import Wire

/// `--processes N`: one process loads the model, the others are forked from it.
///
/// Forked after the load, the siblings share the model's arrays and the libraries' pages with
/// this process copy-on-write, and start scoring at once: N workers cost about one start-up
/// and one model in memory, not N. Each connects to the coordinator as a worker of its own,
/// takes the same job, finds the model it inherited loaded for it, and ends with the job.
extension WorkerProcess {
    /// Starts `options.processes - 1` siblings for the job whose model was just loaded (or
    /// reused), before this process tells the coordinator it is ready. Forks when this process
    /// is down to its one thread once its own threads are stopped; spawns plain workers otherwise.
    func startSiblings(state: State, runtime: PythonRuntime, connection: Connection, heartbeat: inout HeartbeatSender) {
        let count = options.processes - 1
        guard count > 0 else { return }
        // The threads this process runs are stopped for the forks and started again after.
        heartbeat.stop()
        watchdog.stop()
        defer {
            watchdog.start()
            heartbeat = HeartbeatSender(connection: connection)
        }
        var forked: [pid_t] = []
        var notForking = ForkSafety.reasonNotToFork()
        if notForking == nil {
            do throws(PyFuncError) { try runtime.prepareForks() } catch { logger.debug("gc.freeze before forking failed: \(error)") }
            let parent = getpid()
            for _ in 0..<count {
                let pid = runtime.fork()
                if pid == 0 { becomeForkedSibling(of: parent, state: state, connection: connection) }
                guard pid > 0 else {
                    notForking = "fork failed: \(String(cString: strerror(errno)))"
                    break
                }
                siblings.add(forked: pid)
                forked.append(pid)
            }
        }
        if !forked.isEmpty {
            logger.debug("forked \(forked.count) worker(s) sharing the loaded model (pid \(forked.map(String.init).joined(separator: ", ")))")
        }
        guard let notForking else { return }
        let rest = count - forked.count
        guard let arguments = options.siblingArguments else {
            logger.warning("not forking \(rest) worker(s): \(notForking); none spawned instead")
            return
        }
        logger.debug("not forking \(rest) worker(s): \(notForking); spawning them instead (each loads the model)")
        for _ in 0..<rest {
            if let failure = siblings.spawn(arguments: arguments) {
                logger.error("\(failure)")
                break
            }
        }
    }

    /// The life of a forked sibling: it drops the parent's connection (without ending it) and
    /// what the parent was waiting for, then serves one job as a worker of its own from the
    /// interpreter and model it inherited, and ends.
    ///
    /// It lives on a thread started after the fork, which takes over the interpreter, while the
    /// thread that forked only waits for it. Swift's runtime locks (`swift_once`, `Mutex`) record
    /// their holder by a thread id each thread caches on first use, and the forking thread still
    /// carries its parent's: another thread wanting a lock it held was seen spinning for ever.
    private func becomeForkedSibling(of parent: pid_t, state: State, connection: Connection) -> Never {
        connection.forgetInForkedChild()
        siblings.forgetInForkedChild()
        var options = self.options
        options.processes = 1
        options.keepAlive = false
        options.idleTimeout = nil
        options.launchedBy = parent
        var logger = self.logger
        logger[metadataKey: "pid"] = "\(getpid())"
        let sibling = WorkerProcess(options: options, logger: logger)
        let status = ForkedLife.run {
            state.runtime?.adoptCallingThread()
            return sibling.run(state: state)
        }
        fflush(nil)
        _exit(status)
    }
}

/// Runs a forked sibling's life on a new POSIX thread and waits for it (`pthread_join`: glibc
/// only, no Swift lock), returning its exit status.
private final class ForkedLife {
    private let body: () -> Int32
    private var status: Int32 = 1

    private init(_ body: @escaping () -> Int32) { self.body = body }

    static func run(_ body: @escaping () -> Int32) -> Int32 {
        let life = ForkedLife(body)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(life).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            let life = Unmanaged<ForkedLife>.fromOpaque(context!).takeUnretainedValue()
            life.status = life.body()
            return nil
        }, context)
        guard started == 0 else {
            Unmanaged<ForkedLife>.fromOpaque(context).release()
            return 1
        }
        pthread_join(thread, nil)
        Unmanaged<ForkedLife>.fromOpaque(context).release()
        return life.status
    }
}
