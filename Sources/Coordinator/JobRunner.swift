#if canImport(Glibc)
import Glibc
#endif
import Columnar
import Foundation
import Logging
import MLflowModel
import Wire

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
    public func run() throws(JobError) -> Summary {
        let started = Date()
        MemoryTuning.apply()
        // Another job on this output is named before any work (preparing reads every footer);
        // the committer claims the output for good below.
        let output = OutputDirectoryFiles.resolve(options.outputPath)
        if let other = LocalOutputLock(directory: output).currentHolder() { throw LocalOutputLock.inUse(output, by: other) }
        let job = try JobPreparation(options: options, log: { [logger] in logger.info("\($0)") })
        let jobID = UUID().uuidString.lowercased().prefix(12).description
        let modelDigest = try JobFingerprint.digest(ofModel: job.model.directory)
        let fingerprint = job.fingerprint(modelSHA256: modelDigest, options: options)
        let committer = try OutputCommitter(directory: options.outputPath,
                                            mode: options.resume ? .resume : .create(overwrite: options.overwrite),
                                            jobID: jobID, inputPath: job.dataset.path, fingerprint: fingerprint,
                                            partitions: job.plan.partitions.count)
        let done = committer.previouslyCommitted
        let todo = job.plan.partitions.map(\.id).filter { done[$0] == nil }
        let resumedRows = done.values.reduce(0) { $0 + $1.rows }
        if options.resume {
            logger.info("resuming the job in \(committer.directory): \(done.count) of \(job.plan.partitions.count) partitions (\(resumedRows) rows) are committed",
                        metadata: ["output": "\(committer.directory)", "partitions.committed": "\(done.count)"])
        }
        var options = options
        // Local workers are this binary, started as `score-cluster worker`.
        var workerArguments = ["worker", "--python-env", job.pythonEnvironment.root,
                               "--capacity", String(options.workerCapacity), "--connect-timeout", "0"] + options.localWorkerArguments
        let wantsPool = options.keepWorkers != nil && options.workerSource == .local && !todo.isEmpty
        let pool: WarmWorkerPool?
        do {
            pool = try !wantsPool ? nil
                : WarmWorkerPool.acquire(name: WarmWorkerPool.name(executable: Self.executablePath(), arguments: workerArguments + ["--workers", "\(options.workers)"]),
                                         directory: WarmWorkerPool.defaultDirectory())
        } catch {
            committer.abort()
            throw error
        }
        if wantsPool && pool == nil {
            logger.notice("another job is using the kept workers; this job starts workers of its own, which end with it")
        }
        defer { pool?.release() }
        if let pool {
            do { options.token = try pool.token() } catch {
                committer.abort()
                throw error
            }
            workerArguments += ["--token-file", pool.tokenPath]
        }
        var kept: [Int32] = []
        let listener: Listener
        do {
            switch options.workerSource {
            case .local:
                if let pool, let state = pool.load(), let reused = try? Listener(host: "127.0.0.1", port: state.port) {
                    listener = reused
                    kept = WarmWorkerPool.liveWorkers(state)
                } else {
                    listener = try Listener(host: "127.0.0.1", port: 0)
                    // Workers of a pool whose port is taken by now cannot find this job; let them go.
                    if let state = pool?.load() { WarmWorkerPool.liveWorkers(state).forEach { kill($0, SIGTERM) } }
                }
            case .listen(let host, let port, _): listener = try Listener(host: host, port: port)
            }
        } catch {
            committer.abort()
            throw JobError("cannot open a port for workers: \(error)")
        }
        let events = BlockingQueue<JobEvent>()
        // SIGINT and SIGTERM stop the job cleanly (workers stopped, nothing committed) rather than
        // killing the coordinator half-way through writing.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        // A worker that goes away mid-send must be an error on that connection, not the end of the job.
        signal(SIGPIPE, SIG_IGN)
        let signalSources = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { number, name in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { events.push(.interrupted(name)) }
            source.resume()
            return source
        }
        defer {
            signalSources.forEach { $0.cancel() }
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }
        let control = JobControl(job: job, options: options, todo: todo, resumedRows: resumedRows, jobID: jobID, modelDigest: modelDigest,
                                 started: started, events: events, logger: logger, progress: progress)

        // Workers: local ones are started here (or kept from an earlier job, --keep-workers); remote
        // ones connect by themselves and get the model sent to them.
        var launcher: LocalWorkerLauncher?
        var localWorkers = 0
        /// With kept workers: records those still good for the next job (given the pids this job lost).
        var finishPool: ((Set<Int32>) -> Void)?
        switch options.workerSource {
        case .local where job.plan.partitions.isEmpty:
            logger.notice("the input has no rows: writing an empty output (\(job.plan.outputFileName(of: 0)) with the output schema, no rows) and _SUCCESS; no worker is needed")
        case .local where todo.isEmpty:
            logger.info("every partition is committed already; no worker is needed")
        case .local:
            let local = LocalWorkerLauncher()
            // The port is open already: a local worker that cannot connect has nothing to wait for.
            var arguments = workerArguments + ["--connect", "127.0.0.1:\(listener.port)"]
            var logFD: Int32?
            if let pool, let idle = options.keepWorkers {
                arguments += ["--keep-alive", "--idle-timeout", String(idle)]
                do { logFD = try pool.openLog() } catch {
                    committer.abort()
                    throw error
                }
                logger.info(kept.isEmpty ? "starting \(options.workers) worker(s) to keep after the job (--keep-workers; their messages go to \(pool.logPath))"
                                         : "using \(kept.count) worker(s) kept from an earlier job (pid \(kept.map(String.init).joined(separator: ", ")))")
            }
            kept.forEach { _ in control.workerLaunched() }
            let started = max(0, options.workers - kept.count)
            let executable = Self.executablePath()
            func launch(_ index: Int) {
                local.launch(index: index, executable: executable, arguments: arguments, detachedLog: logFD) { index, how in
                    events.push(.workerExited(index: index, how: how))
                }
            }
            for index in 0..<started {
                control.workerLaunched()
                launch(index)
            }
            launcher = local
            if let pool {
                // Kept workers outlive this job: it neither waits for them to exit nor stops them.
                let port = listener.port
                do { try pool.save(.init(port: port, pids: kept + local.pids(of: 0..<started, waiting: 5))) } catch {
                    logger.warning("\(error.message); the workers will not be found by the next job")
                }
                var launched = started
                control.replaceKeptWorker = {
                    launch(launched)
                    launched += 1
                }
                let watch = WarmWorkerPool.Watch(pids: kept, port: port) { events.push(.keptWorkerGone(pid: $0)) }
                finishPool = { [logger] lost in
                    // Workers this job gave up on (stuck in predict, broken) are not kept; the rest are.
                    watch.stop()
                    let ours = kept + local.pids(of: 0..<launched, waiting: 1)
                    for pid in ours where lost.contains(pid) { kill(pid, SIGKILL) }
                    let alive = ours.filter { !lost.contains($0) && WarmWorkerPool.isWorker($0, port: port) }
                    do { try pool.save(.init(port: port, pids: alive)) } catch {
                        logger.warning("\(error); the workers will not be found by the next job")
                    }
                    if let logFD { close(logFD) }
                }
            } else {
                localWorkers = options.workers
            }
        case .listen(let host, _, let minWorkers):
            do { control.modelArchive = try ModelArchive.pack(directory: job.model.directory) } catch {
                committer.abort()
                throw JobError("cannot pack the model \(job.model.directory) for remote workers: \(error)")
            }
            let how = "score-cluster worker --connect HOST:\(listener.port)\(options.token == nil ? "" : " --token-file FILE")"
                + (options.tls == nil ? "" : " --tls-ca FILE")
            logger.notice("listening for workers on \(host):\(listener.port)\(options.tls == nil ? "" : " (TLS)"); scoring starts when \(minWorkers) are ready (\(how))",
                          metadata: ["listen": "\(host):\(listener.port)"])
            if options.tls == nil && !(host == "localhost" || host == "::1" || host.hasPrefix("127.")) {
                logger.warning("links to workers are not encrypted: input rows, predictions and the model cross the network in the clear; pass --tls-certificate and --tls-key to encrypt them")
            }
        }
        let workerCount: Int
        switch options.workerSource {
        case .local: workerCount = options.workers
        case .listen(_, _, let minWorkers): workerCount = max(1, minWorkers)
        }
        // Room for every expected worker to authenticate at once (they all connect at the start),
        // so that the pending limit only ever drops strangers.
        let limits = Acceptor.Limits(maxPending: max(PendingHandshakes.defaultLimit, 2 * workerCount))
        let acceptor = Acceptor(listener: listener, token: options.token, tls: options.tls, limits: limits,
                                events: events, logger: logger)
        acceptor.start()

        // Input and output pipelines.
        // Enough decoded rows to fill every worker's queue, and one block more; at least 2 blocks.
        let blockRows = max(options.batchSize, options.blockRows / options.batchSize * options.batchSize)
        let wanted = workerCount * options.workerCapacity * options.batchSize + blockRows
        let maxBuffered = options.maxBufferedBlocks ?? max(2, (wanted + blockRows - 1) / blockRows)
        let reader = PartitionReader(dataset: job.dataset, plan: job.plan, blocks: todo.flatMap { Array(job.plan.partitions[$0].blocks) },
                                     columnIndices: job.decodeIndices, schema: job.decodeSchema,
                                     modelColumnCount: job.modelColumns.count,
                                     copiesKeptColumns: job.copiesKeptColumns,
                                     maxBuffered: maxBuffered) {
            events.push(.reader($0))
        }
        let preparedJob = job
        let writer = OutputWriter(plan: job.plan, files: job.dataset.files, schema: job.outputSchema,
                                  copiesKeptColumns: job.copiesKeptColumns,
                                  keptChunkColumns: job.keptChunkColumns,
                                  committer: committer, compression: options.compression,
                                  describeFailure: { JobControl.quarantineRecord(job: preparedJob, $0, $1) }) { events.push(.writer($0)) }
        control.reader = reader
        control.writer = writer
        control.launcher = launcher
        reader.start()
        writer.start()

        let outcome = control.runUntilDone()
        report = control.report

        // Wind down: workers first, then the pipelines.
        control.shutdownWorkers()
        acceptor.stop()
        reader.stop()
        if var failure = outcome {
            launcher?.settle(seconds: 1, expected: localWorkers)
            let exits = launcher?.abnormalExits ?? []
            if !exits.isEmpty {
                failure.message += ". Worker processes that ended: \(exits.joined(separator: "; ")). A worker ends like this when the model crashes the interpreter (a segfault, os._exit, running out of memory); see the worker messages above"
            }
            writer.stop()
            if pool == nil { launcher?.signalAll(SIGTERM) }
            launcher?.waitForExit(seconds: 5, expected: localWorkers)
            finishPool?(control.lostPIDs)
            control.closeConnections()
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
        let complete = control.report.partitionsQuarantined == 0
        do { try committer.finish(complete: complete) } catch {
            launcher?.waitForExit(seconds: 10, expected: localWorkers)
            finishPool?(control.lostPIDs)
            committer.abort()
            throw error
        }
        // Ready workers were told to shut down; one still starting up or loading was not needed.
        if pool == nil { launcher?.signalAll(SIGTERM, sparing: control.readyPIDs) }
        launcher?.waitForExit(seconds: 10, expected: localWorkers)
        finishPool?(control.lostPIDs)
        control.closeConnections()
        let files = job.plan.partitions.isEmpty ? [job.plan.outputFileName(of: 0)] : job.plan.partitions.map { job.plan.outputFileName(of: $0.id) }
        return Summary(rows: control.report.rows, files: job.dataset.files.count, partitions: job.plan.partitions.count,
                       workers: control.workersJoined, seconds: Date().timeIntervalSince(started),
                       outputDirectory: committer.directory,
                       outputFiles: files.filter { FileManager.default.fileExists(atPath: committer.directory + "/" + $0) },
                       report: control.report)
    }

    /// This process's executable, to start workers with.
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return CommandLine.arguments[0]
    }
}
