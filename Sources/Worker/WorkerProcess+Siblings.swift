#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
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
        let status = WorkerProcess(options: options, logger: logger).run(state: state)
        fflush(nil)
        _exit(status)
    }
}
