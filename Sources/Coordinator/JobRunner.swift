#if canImport(Glibc)
import Glibc
#endif
import Columnar
import Foundation
import Logging
import MLflowModel
import Wire
import WorkerLaunch
import ObjectStore
import Parquet

/// Runs one scoring job on this machine: validates everything up front, starts local worker
/// processes that connect back over TCP, feeds them batches, merges their results in input
/// order and commits the output.
///
/// One control thread (the caller's) owns all job state and acts on `JobEvent`s that the
/// other threads post: the partition reader, the output writer, one receive thread per worker
/// connection, the listener and the process launcher. Who gets which batch is decided by the
/// `Scheduler` state machine; results are put back in order by the `ResultMerger`.
public final class JobRunner: @unchecked Sendable {
    /// What a finished job reports.
    public struct Summary: Sendable {
        public var rows: Int
        public var files: Int
        public var partitions: Int
        public var workers: Int
        public var seconds: Double
        public var outputDirectory: String
        public var outputFiles: [String]
        /// Everything the job did, for `--report`.
        public var report: JobReport
    }

    public let options: JobOptions
    private let logger: Logger
    private let progress: (@Sendable (JobProgress) -> Void)?
    /// The report of the last run, also when it failed.
    public private(set) var report: JobReport?

    /// `progress` is called about once a second while batches are scored.
    public init(options: JobOptions, logger: Logger, progress: (@Sendable (JobProgress) -> Void)? = nil) {
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    /// Runs the job to completion; throws a `JobError` naming what failed. On failure no
    /// `_SUCCESS` is written; a job wrong in its model or input removes its output, an
    /// interrupted one keeps its committed partitions for `--resume`.
    ///
    /// Four phases: prepare (check everything, claim the output), start workers, start the
    /// pipelines, run; then one wind-down, whatever the outcome. A phase that fails before the
    /// job runs gives up the output and the kept-worker pool it claimed, and nothing else is left.
    public func run() throws(JobError) -> Summary {
        let started = Date()
        MemoryTuning.apply()
        let prepared = try prepare()
        let events = BlockingQueue<JobEvent>()
        let signals = SignalWatch(events: events)
        defer { signals.cancel() }
        let workers: StartedWorkers
        do {
            workers = try startWorkers(prepared, events: events)
        } catch {
            prepared.committer.abort()
            throw error
        }
        defer { workers.pool?.release() }
        let pipelines = startPipelines(prepared, workers: workers, events: events)
        let control = JobControl(job: prepared.job, options: workers.options, todo: prepared.todo, resumedRows: prepared.resumedRows,
                                 jobID: prepared.jobID, modelDigest: prepared.modelDigest,
                                 collaborators: .init(pipeline: pipelines.pipeline, launcher: workers.launcher,
                                                      modelArchive: workers.modelArchive, launchedWorkers: workers.launched,
                                                      replaceKeptWorker: workers.replaceKeptWorker,
                                                      replaceLocalWorker: workers.replaceLocalWorker,
                                                      headStart: pipelines.headStart),
                                 started: started, events: events, logger: logger, progress: progress)
        let outcome = control.runUntilDone()
        if let store = prepared.job.inputStore { control.record(input: JobInput.report(dataset: prepared.job.dataset, store: store)) }
        report = control.report
        return try windDown(outcome, prepared, workers: workers, pipelines: pipelines, control: control, started: started)
    }

    // MARK: - Phase 1: prepare

    /// What preparing found: the checked job and the output it claimed.
    struct Prepared {
        var job: JobPreparation
        var jobID: String
        var modelDigest: String
        var committer: any JobOutput
        /// The partitions to score (all, unless resuming), and the rows committed before.
        var todo: [Int]
        var resumedRows: Int
    }

    private func prepare() throws(JobError) -> Prepared {
        // Another job on this output is named before any work (preparing reads every footer);
        // the committer claims the output for good below.
        if !S3Location.isURI(options.outputPath) {
            let output = OutputDirectoryFiles.resolve(options.outputPath)
            if let other = LocalOutputLock(directory: output).currentHolder() { throw LocalOutputLock.inUse(output, by: other) }
        }
        if let origin = options.modelOrigin {
            let how = origin.fetch.downloaded ? "downloaded \(origin.fetch.bytes) bytes in \(String(format: "%.2f", origin.fetch.seconds)) s" : "from the cache"
            logger.info("model \(origin.provenance.summary) (\(how))",
                        metadata: ["model.uri": "\(origin.provenance.uri)", "model.version": "\(origin.provenance.version ?? "")",
                                   "model.run": "\(origin.provenance.runID ?? "")", "model.sha256": "\(origin.provenance.sha256)"])
        }
        let job = try JobPreparation(options: options, log: { [logger] in logger.info("\($0)") })
        let jobID = UUID().uuidString.lowercased().prefix(12).description
        // A model fetched by URI was hashed when it was fetched or found in the cache.
        let modelDigest: String
        if let fetched = options.modelOrigin?.provenance.sha256 { modelDigest = fetched } else { modelDigest = try JobFingerprint.digest(ofModel: job.model.directory) }
        let fingerprint = job.fingerprint(modelSHA256: modelDigest, options: options)
        let committer = try JobOutputs.open(options.outputPath, mode: options.resume ? .resume : .create(overwrite: options.overwrite),
                                            jobID: jobID, inputPath: job.dataset.path, fingerprint: fingerprint,
                                            partitions: job.plan.partitions.count, inputStore: job.inputStore)
        let done = committer.previouslyCommitted
        let todo = job.plan.partitions.map(\.id).filter { done[$0] == nil }
        let resumedRows = done.values.reduce(0) { $0 + $1.rows }
        if options.resume {
            logger.info("resuming the job in \(committer.directory): \(done.count) of \(job.plan.partitions.count) partitions (\(resumedRows) rows) are committed",
                        metadata: ["output": "\(committer.directory)", "partitions.committed": "\(done.count)"])
        }
        return Prepared(job: job, jobID: jobID, modelDigest: modelDigest, committer: committer, todo: todo, resumedRows: resumedRows)
    }

    // MARK: - Phase 2: workers

    /// The workers the job starts with, and what it may do with them later.
    struct StartedWorkers {
        /// The job's options with what starting workers decided (the kept workers' token).
        var options: JobOptions
        var listener: Listener
        var pool: WarmWorkerPool?
        var launcher: LocalWorkerLauncher?
        /// Local workers started or kept (the scheduler counts them as coming).
        var launched = 0
        /// Local workers this job waits for at its end (none when they are kept).
        var localWorkers: () -> Int = { 0 }
        var modelArchive: ModelArchive?
        /// Starts a process standing for this many kept workers.
        var replaceKeptWorker: ((Int) -> Void)?
        var replaceLocalWorker: (() -> Void)?
        /// With kept workers: records those still good for the next job (given the pids this job lost).
        var finishPool: ((Set<Int32>) -> Void)?
        /// How many workers the job expects (local ones, or `--min-workers`).
        var expected: Int
        /// Whether a worker starts from nothing (an interpreter to start, a model to load): not
        /// when every one was kept from an earlier job, with its model loaded.
        var startingUp = true
    }

    private func startWorkers(_ prepared: Prepared, events: BlockingQueue<JobEvent>) throws(JobError) -> StartedWorkers {
        let job = prepared.job
        var options = options
        // Local workers are this binary, started as `score-cluster worker`.
        var launch = WorkerLaunch(executable: Self.executablePath(), port: 0, pythonEnvironment: job.pythonEnvironment.root,
                                  capacity: options.workerCapacity, logLevel: options.workerLogLevel,
                                  logFormat: options.workerLogFormat)
        let wantsPool = options.keepWorkers != nil && options.workerSource == .local && !prepared.todo.isEmpty
        let pool = try !wantsPool ? nil
            : WarmWorkerPool.acquire(name: WarmWorkerPool.name(launch: launch, workers: options.workers),
                                     directory: WarmWorkerPool.defaultDirectory())
        if wantsPool && pool == nil {
            logger.notice("another job is using the kept workers; this job starts workers of its own, which end with it")
        }
        do throws(JobError) {
            if let pool {
                options.token = try pool.token()
                launch.tokenFile = pool.tokenPath
            }
            var kept: [WarmWorkerPool.LiveWorker] = []
            let listener: Listener
            do {
                switch options.workerSource {
                case .local:
                    if let pool, let state = pool.load(), let reused = try? Listener(host: "127.0.0.1", port: state.port) {
                        listener = reused
                        kept = pool.liveWorkers(state)
                    } else {
                        listener = try Listener(host: "127.0.0.1", port: 0)
                        // Workers of a pool whose port is taken by now cannot find this job; let them go.
                        if let pool, let state = pool.load() { pool.liveWorkers(state).forEach { kill($0.pid, SIGTERM) } }
                    }
                case .listen(let host, let port, _): listener = try Listener(host: host, port: port)
                }
            } catch {
                throw JobError("cannot open a port for workers: \(error)")
            }
            launch.port = listener.port
            switch options.workerSource {
            case .local:
                var started = StartedWorkers(options: options, listener: listener, pool: pool, expected: options.workers)
                try startLocalWorkers(&started, launch: launch, kept: kept, prepared: prepared, events: events)
                return started
            case .listen(let host, _, let minWorkers):
                var started = StartedWorkers(options: options, listener: listener, pool: pool, expected: max(1, minWorkers))
                do { started.modelArchive = try ModelArchive.pack(directory: job.model.directory) } catch {
                    throw JobError("cannot pack the model \(job.model.directory) for remote workers: \(error)")
                }
                let how = "score-cluster worker --connect HOST:\(listener.port)\(options.token == nil ? "" : " --token-file FILE")"
                    + (options.tls == nil ? "" : " --tls-ca FILE")
                logger.notice("listening for workers on \(host):\(listener.port)\(options.tls == nil ? "" : " (TLS)"); scoring starts when \(minWorkers) are ready (\(how))",
                              metadata: ["listen": "\(host):\(listener.port)"])
                if options.tls == nil && !(host == "localhost" || host == "::1" || host.hasPrefix("127.")) {
                    logger.warning("links to workers are not encrypted: input rows, predictions and the model cross the network in the clear; pass --tls-certificate and --tls-key to encrypt them")
                }
                return started
            }
        } catch {
            pool?.release()
            throw error
        }
    }

    /// Starts this machine's workers (or takes those kept from an earlier job, `--keep-workers`).
    private func startLocalWorkers(_ started: inout StartedWorkers, launch: WorkerLaunch, kept: [WarmWorkerPool.LiveWorker],
                                   prepared: Prepared, events: BlockingQueue<JobEvent>) throws(JobError) {
        let job = prepared.job
        if job.plan.partitions.isEmpty {
            logger.notice("the input has no rows: writing an empty output (\(job.plan.outputFileName(of: 0)) with the output schema, no rows) and _SUCCESS; no worker is needed")
            return
        }
        if prepared.todo.isEmpty {
            logger.info("every partition is committed already; no worker is needed")
            return
        }
        let options = started.options
        let local = LocalWorkerLauncher()
        let pool = started.pool
        let logFD = try pool?.openLog()
        if let pool {
            logger.info(kept.isEmpty ? "starting \(options.workers) worker(s) to keep after the job (--keep-workers; their messages go to \(pool.logPath))"
                                     : "using \(kept.reduce(0) { $0 + $1.processes }) worker(s) kept from an earlier job (pid \(kept.map { String($0.pid) }.joined(separator: ", ")))")
        }
        /// Record files of the workers this job started, by launch index (kept workers only).
        final class Records: @unchecked Sendable {
            let lock = NSLock()
            var paths: [String] = []
            func add(_ path: String) { lock.withLock { paths.append(path) } }
            var all: [String] { lock.withLock { paths } }
        }
        let records = Records()
        final class Counter: @unchecked Sendable {
            let lock = NSLock()
            var value = 0
            func next() -> Int { lock.withLock { defer { value += 1 }; return value } }
            var count: Int { lock.withLock { value } }
        }
        let launches = Counter()
        let keepWorkers = options.keepWorkers
        /// Launches a process standing for `processes` workers.
        let start: (_ processes: Int) -> Void = { processes in
            var worker = launch
            worker.processes = processes
            if let pool, let idle = keepWorkers {
                worker.keepAlive = .init(idleTimeout: idle, recordPath: pool.newRecordPath())
                records.add(worker.keepAlive!.recordPath)
            }
            local.launch(index: launches.next(), processes: processes, executable: worker.executable, arguments: worker.arguments,
                         detachedLog: logFD) { index, exit, how in
                events.push(.workerExited(index: index, exit: exit, how: how))
            }
        }
        let keptProcesses = kept.reduce(0) { $0 + $1.processes }
        let count = max(0, options.workers - keptProcesses)
        // One process loading the model and forking the others (--fork-workers), or one each.
        let launched = count > 1 && options.forkWorkers ? 1 : count
        if launched == 1 { start(count) } else { for _ in 0..<count { start(1) } }
        started.launcher = local
        started.launched = keptProcesses + count
        started.startingUp = count > 0
        if pool == nil {
            // In place of a worker that stopped over its memory limit; waited for at the end.
            started.replaceLocalWorker = { start(1) }
            started.localWorkers = { launches.count }
            return
        }
        // Kept workers outlive this job: it neither waits for them to exit nor stops them.
        let port = started.listener.port
        started.replaceLocalWorker = { start(1) }
        started.replaceKeptWorker = start
        let pids = kept.map(\.pid) + local.pids(of: 0..<launched, waiting: 5)
        do { try pool!.save(.init(port: port, pids: pids, records: kept.map(\.path) + records.all)) } catch {
            logger.warning("\(error.message); the workers will not be found by the next job")
        }
        let watch = WarmWorkerPool.Watch(workers: kept) { events.push(.keptWorkerGone(pid: $0, processes: $1)) }
        started.finishPool = { [logger] lost in
            // Workers this job gave up on (stuck in predict, broken) are not kept; the rest are.
            watch.stop()
            let ours = kept.map(\.path) + records.all
            let live = pool!.liveWorkers(.init(port: port, pids: [], records: ours))
            for worker in live where lost.contains(worker.pid) { kill(worker.pid, SIGKILL) }
            let alive = live.filter { !lost.contains($0.pid) }
            do { try pool!.save(.init(port: port, pids: alive.map(\.pid), records: alive.map(\.path))) } catch {
                logger.warning("\(error); the workers will not be found by the next job")
            }
            if let logFD { close(logFD) }
        }
    }

    // MARK: - Phase 3: pipelines

    /// The threads that feed and drain the job besides the workers.
    struct Pipelines {
        var acceptor: Acceptor
        var pipeline: JobControl.Pipeline
        var headStart: HeadStart?
    }

    private func startPipelines(_ prepared: Prepared, workers: StartedWorkers, events: BlockingQueue<JobEvent>) -> Pipelines {
        let job = prepared.job
        let options = workers.options
        // Room for every expected worker to authenticate at once (they all connect at the start),
        // so that the pending limit only ever drops strangers.
        let limits = Acceptor.Limits(maxPending: max(PendingHandshakes.defaultLimit, 2 * workers.expected))
        let acceptor = Acceptor(listener: workers.listener, token: options.token, tls: options.tls, limits: limits,
                                events: events, logger: logger)
        acceptor.start()
        // Workers read their own partitions when asked to and there is work to hand out (an
        // empty input's file, or a finished job's end, is the streamed path's to write).
        if options.workersRead && !prepared.todo.isEmpty {
            let parts = PartCommitter(output: prepared.committer) { events.push(.parts($0)) }
            parts.start()
            let uploadPrefix = (prepared.committer as? S3OutputCommitter)?.prefixLocation
            var headStart: HeadStart?
            // Workers upload parts to an object store from their own disks: nothing to start there.
            // Kept workers are ready at once: no start-up to overlap.
            if options.headStart && uploadPrefix == nil && workers.startingUp {
                let modelColumns = job.decodeIndices.map { indices in job.modelColumns.map { indices[$0] }.filter { $0 >= 0 } }
                let items = HeadStart.items(plan: job.plan, order: prepared.todo, copies: job.copiesKeptColumns,
                                            keptChunks: job.keptChunkColumns, modelColumns: modelColumns)
                headStart = HeadStart(items: items, files: job.dataset.files, temporaryDirectory: prepared.committer.temporaryDirectory,
                                      schema: job.outputSchema, compression: options.compression, createdBy: OutputWriter.createdBy,
                                      logger: logger)
                headStart?.start()
            }
            return Pipelines(acceptor: acceptor, pipeline: .workersRead(parts: parts, temporaryDirectory: prepared.committer.temporaryDirectory,
                                                                        uploadPrefix: uploadPrefix),
                             headStart: headStart)
        }
        // Enough decoded rows to fill every worker's queue, and one block more; at least 2 blocks.
        let blockRows = max(options.batchSize, options.blockRows / options.batchSize * options.batchSize)
        let wanted = workers.expected * options.workerCapacity * options.batchSize + blockRows
        let maxBuffered = options.maxBufferedBlocks ?? max(2, (wanted + blockRows - 1) / blockRows)
        let reader = PartitionReader(dataset: job.dataset, plan: job.plan, blocks: prepared.todo.flatMap { Array(job.plan.partitions[$0].blocks) },
                                     columnIndices: job.decodeIndices, schema: job.decodeSchema,
                                     modelColumnCount: job.modelColumns.count,
                                     copiesKeptColumns: job.copiesKeptColumns,
                                     maxBuffered: maxBuffered) {
            events.push(.reader($0))
        }
        let writer = OutputWriter(plan: job.plan, files: job.dataset.files, schema: job.outputSchema,
                                  copiesKeptColumns: job.copiesKeptColumns,
                                  keptChunkColumns: job.keptChunkColumns,
                                  committer: prepared.committer, compression: options.compression,
                                  describeFailure: { QuarantineRecord.json(job: job, $0, $1) }) { events.push(.writer($0)) }
        reader.start()
        writer.start()
        return Pipelines(acceptor: acceptor, pipeline: .streamed(reader: reader, writer: writer))
    }

    // MARK: - Phase 4: wind down

    /// Stops everything the job started, in order (workers first, then the pipelines), and
    /// commits or gives up the output as the outcome says.
    private func windDown(_ outcome: JobError?, _ prepared: Prepared, workers: StartedWorkers, pipelines: Pipelines,
                          control: JobControl, started: Date) throws(JobError) -> Summary {
        let job = prepared.job
        let committer = prepared.committer
        let launcher = workers.launcher
        let kept = workers.pool != nil
        control.shutdownWorkers()
        pipelines.acceptor.stop()
        // Before the temporary area it writes in is committed or removed.
        pipelines.headStart?.finish()
        if case .streamed(let reader, _) = pipelines.pipeline { reader.stop() }
        func releaseWorkers(waiting seconds: Double) {
            launcher?.waitForExit(seconds: seconds, expected: workers.localWorkers())
            workers.finishPool?(control.lostPIDs)
            control.closeConnections()
        }
        if var failure = outcome {
            launcher?.settle(seconds: 1, expected: workers.localWorkers())
            let exits = launcher?.abnormalExits ?? []
            if !exits.isEmpty {
                failure.message += ". Worker processes that ended: \(exits.map(\.description).joined(separator: "; "))"
                    + Self.exitAdvice(exits.map(\.exit))
            }
            switch pipelines.pipeline {
            case .streamed(_, let writer): writer.stop()
            case .workersRead(let parts, _, _): parts.stop()
            }
            if !kept { launcher?.signalAll(SIGTERM) }
            releaseWorkers(waiting: 5)
            let committed = committer.committedPartitions
            if failure.resumable && committed > 0 {
                committer.suspend()
                failure.message += ". \(committed) of \(job.plan.partitions.count) partitions are committed in \(committer.directory); "
                    + "run the same command with --resume to finish the job (--overwrite to start over)"
            } else {
                committer.abort()
            }
            throw failure
        }
        do { try committer.finish(complete: control.report.partitionsQuarantined == 0) } catch {
            releaseWorkers(waiting: 10)
            committer.abort()
            throw error
        }
        // Ready workers were told to shut down; one still starting up or loading was not needed.
        if !kept { launcher?.signalAll(SIGTERM, sparing: control.readyPIDs) }
        releaseWorkers(waiting: 10)
        // The last kept chunks were copied as their partitions were committed.
        if let store = job.inputStore { control.record(input: JobInput.report(dataset: job.dataset, store: store)) }
        let files = job.plan.partitions.isEmpty ? [job.plan.outputFileName(of: 0)] : job.plan.partitions.map { job.plan.outputFileName(of: $0.id) }
        return Summary(rows: control.report.rows, files: job.dataset.files.count, partitions: job.plan.partitions.count,
                       workers: control.workersJoined, seconds: Date().timeIntervalSince(started),
                       outputDirectory: committer.directory,
                       outputFiles: files.filter { committer.holds(file: $0) },
                       report: control.report)
    }

    /// What to make of workers that ended abnormally: out of memory (by their limit or by the
    /// kernel's out-of-memory killer) or a crash of the model.
    static func exitAdvice(_ exits: [WorkerExit?]) -> String {
        var advice: [String] = []
        if exits.contains(where: { $0?.verdict == .probablyOutOfMemory }) {
            advice.append("A worker killed by SIGKILL was most likely ended by the kernel's out-of-memory killer, the machine being out of memory: "
                          + "lower --worker-memory so that workers stop themselves first (naming the batch), or use fewer --workers")
        }
        if exits.contains(where: { $0 == nil || $0?.verdict == .failed }) {
            advice.append("A worker ends like this when the model crashes the interpreter (a segfault, os._exit); see the worker messages above")
        }
        return advice.map { ". " + $0 }.joined()
    }

    /// This process's executable, to start workers with.
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return CommandLine.arguments[0]
    }
}
