#if canImport(Glibc)
import Glibc
#endif
import Columnar
import Foundation
import Logging
import MLflowModel
import PyFunc
import Synchronization
import PartitionIO
import Wire

/// A worker: connects to a coordinator, starts the embedded interpreter, loads the model
/// once, then scores batches until told to stop.
///
/// Two threads: the calling thread is the Python thread (it starts the interpreter and runs
/// every predict); a receive thread reads frames and queues batches, so the next batch is
/// already decoded and waiting when predict returns.
public struct WorkerProcess {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        /// `--python-env`; nil means VIRTUAL_ENV or the project's `.venv`.
        public var pythonEnvironment: String?
        /// Batches the worker holds at once: one being scored, the rest waiting.
        public var capacity: Int
        /// The shared secret proving this worker to the coordinator (and the coordinator to it).
        public var token: ClusterToken?
        /// Where models received from coordinators are kept, by content hash.
        public var modelCache: String
        /// Seconds to keep trying to reach a coordinator that is not listening yet (workers
        /// started by a cluster manager often come up before it).
        public var connectTimeout: Double = 60
        /// After a job, connect again for the next one, keeping the interpreter and the loaded
        /// model (reused when the next job has the same model and invocation).
        public var keepAlive: Bool = false
        /// With `keepAlive`: seconds to wait for the next job before exiting (nil: for ever), so
        /// that a pool of warm workers started for a burst of jobs goes away by itself.
        public var idleTimeout: Double?
        /// Seconds without a frame from the coordinator (it beats every 2 s) after which it is
        /// taken for gone.
        public var coordinatorTimeout: Int = Heartbeat.coordinatorSilenceSeconds
        /// TLS towards the coordinator (`--tls-ca`): its certificate is checked against the
        /// trusted certificates and its name (`--tls-server-name`, else `host`). nil: plain TCP.
        public var tls: TLSContext?
        /// `--memory-limit`: the most resident memory this worker may use, whatever the job says
        /// (a job's `--worker-memory` that is smaller applies instead). nil: the job's, if any.
        public var memoryLimit: MemoryLimit?
        /// `--processes`: worker processes this one stands for. For each job it loads the model,
        /// then forks the others, which share the model's memory and pay no start-up (or, where
        /// forking is unsafe, spawns them as plain workers), and waits for them when the job ends.
        public var processes: Int = 1
        /// The arguments of a plain worker like this one (no `--processes`, no `--keep-alive`),
        /// for siblings spawned where forking is unsafe; nil: none are spawned.
        public var siblingArguments: [String]?
        /// The process that started this worker as one of its `--processes` (told to the
        /// coordinator, which counts the workers each process it launched stands for).
        public var launchedBy: Int32?

        public init(host: String, port: Int, pythonEnvironment: String?, capacity: Int = 3, token: ClusterToken? = nil,
                    modelCache: String = ModelCache.defaultDirectory()) {
            self.host = host
            self.port = port
            self.pythonEnvironment = pythonEnvironment
            self.capacity = capacity
            self.token = token
            self.modelCache = modelCache
        }
    }

    public let options: Options
    let logger: Logger
    /// What the memory watchdog reports on, and where to.
    private let watched = Watched()
    let watchdog: MemoryWatchdog
    /// The processes this one started for the job under way (`processes`).
    let siblings = SiblingWorkers()

    /// A worker logging to `logger` (its caller's: `score-cluster worker` passes one labelled
    /// `score-cluster.worker`), to which it adds the coordinator's address as metadata.
    public init(options: Options, logger: Logger) {
        self.options = options
        var logger = logger
        logger[metadataKey: "coordinator"] = "\(options.host):\(options.port)"
        self.logger = logger
        let watched = self.watched
        watchdog = MemoryWatchdog { [logger] exceeded in
            Self.stopOverMemory(exceeded, watched: watched, logger: logger)
        }
        watchdog.limit = options.memoryLimit
    }

    /// The state the memory watchdog reads from its own thread: the coordinator's connection,
    /// what the worker is doing, and where the limit in force comes from.
    private final class Watched: Sendable {
        struct State {
            var connection: Connection?
            var activity: OverMemoryReport.Activity = .idle
            var origin: OverMemoryReport.Origin = .worker
        }
        let state = Mutex(State())
        var activity: OverMemoryReport.Activity {
            get { state.withLock { $0.activity } }
            set { state.withLock { $0.activity = newValue } }
        }
    }

    /// Over the memory limit: tells the coordinator (waiting at most 2 s for the send), says so
    /// on standard error, and ends the process with `WorkerExit.memoryLimitStatus`.
    private static func stopOverMemory(_ exceeded: MemoryWatchdog.Exceeded, watched: Watched, logger: Logger) -> Never {
        let (connection, activity, origin) = watched.state.withLock { ($0.connection, $0.activity, $0.origin) }
        let failure = OverMemoryReport.failure(exceeded, activity: activity, origin: origin, peakBytes: ResidentMemory.peak())
        logger.error("\(failure.message); exiting with status \(WorkerExit.memoryLimitStatus)")
        if let connection {
            let sent = DispatchSemaphore(value: 0)
            let sender = Thread {
                try? connection.send(.failure(failure))
                sent.signal()
            }
            sender.start()
            _ = sent.wait(timeout: .now() + 2)
        }
        _exit(WorkerExit.memoryLimitStatus)
    }

    /// Applies the limit for a job: the smaller of this worker's own and the job's.
    private func applyMemoryLimit(for job: JobSpec?) {
        let fromJob = job?.memoryLimitMB.flatMap { $0 > 0 ? MemoryLimit(megabytes: $0) : nil }
        let limit = MemoryLimit.effective(options.memoryLimit, fromJob)
        let origin: OverMemoryReport.Origin = fromJob != nil && limit == fromJob ? .job : .worker
        watched.state.withLock { $0.origin = origin }
        watchdog.limit = limit
        if let job, let limit {
            logger.debug("memory limit for job \(job.jobID): \(limit) (\(origin == .job ? "--worker-memory" : "--memory-limit"))")
        }
    }

    /// The interpreter and the model of the last job, kept between jobs with `keepAlive`.
    final class State {
        var runtime: PythonRuntime?
        var model: (key: JobSpec, model: PyFuncModel)?
    }

    /// How a session with a coordinator ended.
    private enum Outcome {
        /// A job was received and served; the process exit status.
        case served(Int32)
        /// Connected, but no job came: the coordinator was winding down (a kept-alive worker
        /// reconnects while the last job's coordinator exits), shut it down, or refused it.
        case noJob(Int32)
        /// No coordinator listened before the deadline.
        case unreachable(String)
    }

    /// The longest wait between two attempts to reach the coordinator. A coordinator on this
    /// machine is tried every 50 ms, so that a worker kept alive for the next local job
    /// (`run --keep-workers`) joins it at once; a failed loopback connect costs next to nothing.
    private var maxReconnectPause: Double {
        Handshake.isLoopback(options.host) ? 0.05 : 2
    }

    /// The whole handshake with the coordinator, TLS included (the coordinator allows 10 s
    /// from its accept; this side also waits while the coordinator is busy starting its side).
    static let handshakeSeconds: Double = 30

    /// Runs until the coordinator says shutdown or goes away (with `keepAlive`, job after job);
    /// returns the process exit status.
    public func run() -> Int32 {
        run(state: State())
    }

    /// `run()` from `state`: a fresh one, or in a forked sibling the interpreter and model it inherited.
    func run(state: State) -> Int32 {
        // A closed socket must be an error on write, not a fatal signal.
        signal(SIGPIPE, SIG_IGN)
        watchdog.start()
        // The siblings of a job are waited for before the next one (they end with it); a kept
        // one that is stuck after its coordinator went silent is not waited for for ever.
        let siblingsDeadline = { options.keepAlive ? Date().addingTimeInterval(Double(options.coordinatorTimeout) + 10) : nil }
        defer { siblings.waitForAll(until: siblingsDeadline(), logger: logger) }
        var outcome = session(state, until: Date().addingTimeInterval(options.connectTimeout))
        var idleSince = Date()
        var pause = 0.05
        // A kept-alive worker outlives a failed job too, as long as its interpreter started.
        while options.keepAlive && state.runtime != nil {
            siblings.waitForAll(until: siblingsDeadline(), logger: logger)
            switch outcome {
            case .served(let status):
                logger.info("job ended (\(status == 0 ? "done" : "failed")); waiting for the next one at \(options.host):\(options.port) (--keep-alive)")
                idleSince = Date()
                pause = 0.05
            case .noJob(let status):
                // Do not spin on a coordinator that accepts and closes while it exits; after a
                // refusal (logged), wait 2 s at least, so that the log does not fill up.
                if status != 0 { pause = max(pause, 2) }
                usleep(UInt32(pause * 1_000_000))
                pause = min(status != 0 ? 10 : maxReconnectPause, pause * 1.5)
            case .unreachable:
                break
            }
            let deadline = options.idleTimeout.map { idleSince.addingTimeInterval($0) } ?? .distantFuture
            if Date() >= deadline {
                logger.info("no job for \(Int(options.idleTimeout!)) s; exiting (--idle-timeout)")
                return 0
            }
            outcome = session(state, until: deadline)
        }
        switch outcome {
        case .served(let status), .noJob(let status): return status
        case .unreachable(let why):
            logger.error("cannot reach the coordinator at \(options.host):\(options.port) (tried for \(Int(options.connectTimeout)) s, --connect-timeout): \(why)")
            return 1
        }
    }

    /// One job: connect (retrying until `deadline`), authenticate, load (or reuse) the model,
    /// score until shutdown.
    private func session(_ state: State, until deadline: Date) -> Outcome {
        let connection: Connection
        var pause = 0.05
        while true {
            do {
                connection = try Connection.connect(host: options.host, port: options.port)
                break
            } catch {
                guard Date() < deadline else { return .unreachable("\(error)") }
                usleep(UInt32(pause * 1_000_000))
                pause = min(maxReconnectPause, pause * 1.5)
            }
        }
        defer { connection.close() }
        defer {
            watched.state.withLock { $0.connection = nil; $0.activity = .idle }
            applyMemoryLimit(for: nil)
        }
        do {
            // One deadline for TLS and the challenge-response; generous, as a busy coordinator
            // starts its side late. Until the coordinator proves itself only small frames are taken.
            let deadline = HandshakeDeadline(seconds: Self.handshakeSeconds)
            if let tls = options.tls {
                do { try connection.startTLS(tls, serverName: tls.serverName ?? options.host, deadline: deadline) } catch {
                    var why = "\(error)"
                    if case .tls(let detail) = error { why = detail }
                    throw WireError.tls("with the coordinator at \(options.host):\(options.port): \(why) "
                                        + "(check --tls-ca and --tls-server-name against the coordinator's --tls-certificate, "
                                        + "and that the coordinator was started with one)")
                }
            }
            try connection.authenticateCoordinator(token: options.token, loopbackMayOmitToken: !options.keepAlive, deadline: deadline)
        } catch WireError.closed where state.runtime != nil {
            logger.debug("the coordinator closed the connection before the handshake (it is winding down)")
            return .noJob(0)
        } catch {
            logger.error("\(error)")
            return .noJob(1)
        }

        let runtime: PythonRuntime
        if let started = state.runtime {
            runtime = started
        } else {
            do {
                let environment = try PythonEnvironment.resolve(explicit: options.pythonEnvironment)
                runtime = try PythonRuntime.start(environment: environment)
                state.runtime = runtime
            } catch {
                try? connection.send(.failure(WorkerFailure(kind: .environment, message: "\(error)", traceback: error.traceback)))
                logger.error("\(error)")
                return .noJob(1)
            }
        }

        var job: JobSpec
        do {
            // A coordinator that says nothing after the handshake is not waited for forever.
            connection.setReceiveTimeout(seconds: 30)
            defer { connection.setReceiveTimeout(seconds: 0) }
            try connection.send(.hello(WorkerHello(pid: getpid(), host: ProcessInfo.processInfo.hostName,
                                                   capacity: options.capacity, pythonVersion: runtime.version,
                                                   pythonEnvironment: runtime.environment.root, launchedBy: options.launchedBy)))
            switch try Self.receiveSkippingHeartbeats(connection) {
            case .job(let spec): job = spec
            case .shutdown: return .noJob(0)
            case let other: throw WireError.unexpected("expected a job, got \(other.type)")
            }
            // From here the job's limit applies, and going over it is reported on this connection.
            applyMemoryLimit(for: job)
            watched.state.withLock { $0.connection = connection }
            if let hash = job.modelSHA256 { job.modelPath = try fetchModel(hash, connection: connection) }
        } catch WireError.closed where state.model != nil {
            logger.debug("the coordinator closed the connection before sending a job (it is winding down)")
            return .noJob(0)
        } catch {
            logger.error("\(error)")
            return .noJob(1)
        }
        return .served(serve(job: job, runtime: runtime, state: state, connection: connection))
    }

    /// What makes two jobs' models interchangeable: everything but the job's id, memory limit
    /// and data path (and the model's path, when it is known by its content hash).
    private static func modelKey(_ job: JobSpec) -> JobSpec {
        var key = job
        key.jobID = ""
        key.memoryLimitMB = nil
        key.workersRead = nil
        if key.modelSHA256 != nil { key.modelPath = "" }
        return key
    }

    /// The next frame that is not a heartbeat: the coordinator beats every 2 s from the hello on,
    /// so one may come before the job or the model archive (a large model takes a while).
    private static func receiveSkippingHeartbeats(_ connection: Connection) throws -> CoordinatorMessage {
        while true {
            let message = try connection.receiveFromCoordinator()
            if case .heartbeat = message { continue }
            return message
        }
    }

    /// The directory of the model with content hash `hash`: from the cache, or received from
    /// the coordinator, checked against the hash and stored in the cache.
    private func fetchModel(_ hash: String, connection: Connection) throws -> String {
        let cache = ModelCache(directory: options.modelCache)
        if let path = cache.path(for: hash) { return path }
        try connection.send(.modelRequest)
        let bytes: ColumnBuffer
        switch try Self.receiveSkippingHeartbeats(connection) {
        case .modelArchive(let received): bytes = received
        case let other: throw WireError.unexpected("expected the model archive, got \(other.type)")
        }
        let archive = try ModelArchive(payload: bytes, expectedSHA256: hash)
        let path = try cache.store(archive)
        logger.info("received the model (\(archive.count) bytes, sha256 \(hash.prefix(12))...) into \(path)")
        return path
    }

    private enum Inbound: Sendable {
        case batch(ColumnBatch, decodeSeconds: Double)
        case partition(PartitionTask)
        case shutdown
        case broken(String)
    }

    /// What the coordinator is told when a partition cannot be scored (`--workers-read`).
    private static func failure(_ error: PartitionScoringError, task: PartitionTask) -> WorkerFailure {
        switch error {
        case .predict(let batch, let underlying):
            return WorkerFailure(kind: .predict, taskID: batch, message: "\(underlying)",
                                 traceback: (underlying as? PyFuncModel.PredictError)?.traceback, partition: task.partition)
        case .inputUnreachable: return WorkerFailure(kind: .inputUnreachable, message: error.description, partition: task.partition)
        case .input: return WorkerFailure(kind: .input, message: error.description, partition: task.partition)
        case .output: return WorkerFailure(kind: .output, message: error.description, partition: task.partition)
        case .specification, .stopped: return WorkerFailure(kind: .protocolError, message: error.description, partition: task.partition)
        }
    }

    private func serve(job: JobSpec, runtime: PythonRuntime, state: State, connection: Connection) -> Int32 {
        // Heartbeats come from their own thread, so a long model load or predict (which hold the Python thread)
        // still shows the coordinator that this process is alive.
        var heartbeat = HeartbeatSender(connection: connection)
        defer { heartbeat.stop(waiting: false) }
        let model: PyFuncModel
        let key = Self.modelKey(job)
        if let kept = state.model, kept.key == key {
            model = kept.model
            // A forked sibling always finds the model it inherited: not news.
            logger.log(level: options.launchedBy == nil ? .info : .debug, "reusing the loaded model for job \(job.jobID)")
            startSiblings(state: state, runtime: runtime, connection: connection, heartbeat: &heartbeat)
            do { try connection.send(.ready(WorkerReady(loadSeconds: 0))) } catch { return 1 }
        } else {
            state.model = nil
            watched.activity = .loading
            defer { watched.activity = .idle }
            do {
                let mlmodel = try MLModel(directory: job.modelPath)
                let invocation = PyFuncModel.Invocation(labels: job.columnNames, integerLabels: job.integerLabels,
                                                        enforcedTypes: job.enforcedTypes,
                                                        modelConfigJSON: job.modelConfig.map { JSONValue.object($0).jsonText },
                                                        paramsJSON: job.params.map { JSONValue.object($0).jsonText }, resultType: job.resultType,
                                                        outputField: job.outputField, strictTypes: job.strictTypes)
                model = try PyFuncModel(runtime: runtime, model: mlmodel, invocation: invocation)
                watchdog.check()
            } catch {
                try? connection.send(.failure(WorkerFailure(kind: .modelLoad, message: error.message, traceback: error.traceback)))
                return 1
            }
            state.model = (key, model)
            startSiblings(state: state, runtime: runtime, connection: connection, heartbeat: &heartbeat)
            do { try connection.send(.ready(WorkerReady(loadSeconds: model.loadSeconds))) } catch { return 1 }
        }

        let inbox = BlockingQueue<Inbound>()
        // Set by the receive thread when the coordinator says shutdown or goes away: a partition
        // under way (--workers-read) stops at its next block instead of being finished for nobody.
        let stopping = Atomic<Bool>(false)
        // The coordinator beats every few seconds: silence this long means it is gone.
        let silence = options.coordinatorTimeout
        connection.setReceiveTimeout(seconds: silence)
        let receiver = Thread {
            while true {
                do {
                    let frame = try connection.receive()
                    let started = DispatchTime.now().uptimeNanoseconds
                    switch try CoordinatorMessage(frame: frame) {
                    case .heartbeat:
                        continue
                    case .batch(let batch):
                        inbox.push(.batch(batch, decodeSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
                    case .partition(let task) where job.workersRead != nil:
                        inbox.push(.partition(task))
                    case .shutdown:
                        stopping.store(true, ordering: .relaxed)
                        inbox.push(.shutdown)
                        return
                    case let other: inbox.push(.broken("unexpected \(other.type) frame")); return
                    }
                } catch WireError.closed {
                    stopping.store(true, ordering: .relaxed)
                    inbox.push(.shutdown)
                    return
                } catch let error as WireError where error.isTimeout {
                    stopping.store(true, ordering: .relaxed)
                    inbox.push(.broken("the coordinator sent nothing for \(silence) s (no heartbeat): it is gone or unreachable"))
                    return
                } catch {
                    inbox.push(.broken("\(error)"))
                    return
                }
            }
        }
        receiver.stackSize = 1 << 20
        receiver.start()

        // --workers-read: partitions are read and written here.
        var scorer: PartitionScorer?
        while true {
            switch inbox.pop()! {
            case .shutdown:
                return 0
            case .partition(let task):
                // Memory gone over the limit anywhere in the partition (reading, writing, uploading)
                // names its batch under way, so the partition is blamed, not requeued for ever.
                watched.activity = .scoring(task.firstBatch)
                defer { watched.activity = .idle }
                let written: PartitionWritten
                do throws(PartitionScoringError) {
                    if scorer == nil { scorer = try PartitionScorer(spec: job.workersRead!, resultType: job.resultType.dataType) }
                    written = try scorer!.score(task, stop: { stopping.load(ordering: .relaxed) }) { columns, rows, batch in
                        watched.activity = .scoring(batch)
                        let prediction = try model.predict(columns, rowCount: rows)
                        watchdog.check()
                        return prediction
                    }
                } catch .stopped {
                    continue  // the shutdown (or the broken link) is next in the inbox
                } catch {
                    do { try connection.send(.failure(Self.failure(error, task: task))) } catch { return 1 }
                    if case .specification = error { return 1 }
                    continue
                }
                do { try connection.send(.partitionWritten(written)) } catch {
                    // Nobody will record this upload: it is not left open.
                    scorer?.abandon(written)
                    return 1
                }
            case .broken(let why):
                logger.warning("\(why)")
                try? connection.send(.failure(WorkerFailure(kind: .protocolError, message: why)))
                return 1
            case .batch(let batch, let decodeSeconds):
                watched.activity = .scoring(batch.taskID)
                defer { watched.activity = .idle }
                do {
                    let started = DispatchTime.now().uptimeNanoseconds
                    let prediction = try model.predict(batch.columns, rowCount: batch.rowCount)
                    // The batch that took the worker over its limit is the one reported, not its result.
                    watchdog.check()
                    let predicted = DispatchTime.now().uptimeNanoseconds
                    try connection.send(.result(ColumnBatch(taskID: batch.taskID, rowCount: batch.rowCount, columns: [prediction])))
                    let sent = DispatchTime.now().uptimeNanoseconds
                    try connection.send(.batchTimings(BatchTimings(taskID: batch.taskID, decodeSeconds: decodeSeconds,
                                                                   predictSeconds: Double(predicted - started) / 1e9,
                                                                   encodeSeconds: Double(sent - predicted) / 1e9)))
                } catch let error as PyFuncModel.PredictError {
                    let kind: WorkerFailure.Kind = .predict
                    do {
                        try connection.send(.failure(WorkerFailure(kind: kind, taskID: batch.taskID,
                                                                   message: error.description, traceback: error.traceback)))
                    } catch { return 1 }
                } catch {
                    return 1  // the coordinator is gone
                }
            }
        }
    }
}
